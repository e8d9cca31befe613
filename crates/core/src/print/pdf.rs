//! A page of text, boxes and lines on printpdf, in millimetres from the bottom-left corner.
//!
//! printpdf (0.12) was chosen over krilla and genpdf: it is maintained, pure Rust, and draws
//! with the PDF's 14 builtin fonts, so nothing has to ship a font file and `pdftotext` reads
//! the text back; krilla (also maintained, better typography) needs a font file for every
//! piece of text; genpdf's last release is from 2021 and pins an old printpdf.

use printpdf::{
    BuiltinFont, Color, Greyscale, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, TextItem,
};

/// One page being drawn.
#[derive(Debug)]
pub struct Sheet {
    width: f32,
    height: f32,
    ops: Vec<Op>,
}

/// A finished document.
#[derive(Debug, Default)]
pub struct Document {
    pages: Vec<Sheet>,
}

impl Sheet {
    pub fn new(width_mm: f32, height_mm: f32) -> Self {
        Self {
            width: width_mm,
            height: height_mm,
            ops: Vec::new(),
        }
    }

    /// One line of text at (x, y) mm, baseline; `bold` uses Helvetica-Bold.
    pub fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(y)),
            },
            // The builtin fonts cover Latin-1; anything else would print as garbage.
            Op::ShowText {
                items: vec![TextItem::Text(latin1(text))],
            },
            Op::EndTextSection,
        ]);
    }

    /// A filled box, `grey` from 0 (black) to 1 (white).
    pub fn fill(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32) {
        self.ops.push(Op::SetFillColor {
            col: Color::Greyscale(Greyscale::new(grey, None)),
        });
        let mut rect = Rect::from_xywh(Mm(x).into(), Mm(y).into(), Mm(w).into(), Mm(h).into());
        rect.mode = Some(PaintMode::Fill);
        self.ops.push(Op::DrawRectangle { rectangle: rect });
        // Text after a box is black again.
        self.ops.push(Op::SetFillColor {
            col: Color::Greyscale(Greyscale::new(0.0, None)),
        });
    }

    pub fn width(&self) -> f32 {
        self.width
    }

    pub fn height(&self) -> f32 {
        self.height
    }
}

impl Document {
    pub fn push(&mut self, sheet: Sheet) {
        self.pages.push(sheet);
    }

    /// The PDF file's bytes.
    pub fn to_bytes(self, title: &str) -> Vec<u8> {
        let pages = self
            .pages
            .into_iter()
            .map(|s| PdfPage::new(Mm(s.width), Mm(s.height), s.ops))
            .collect();
        let mut warnings = Vec::new();
        PdfDocument::new(title)
            .with_pages(pages)
            .save(&PdfSaveOptions::default(), &mut warnings)
    }
}

fn latin1(text: &str) -> String {
    text.chars()
        .map(|c| if (c as u32) < 0x100 { c } else { '?' })
        .collect()
}
