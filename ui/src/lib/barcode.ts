// Barcode scanners type like a keyboard: printable keys in quick succession, then Enter.
// This reader recognises such a burst when focus is not in a text field, so a scan lands in
// the work-order field wherever the technician's focus happens to be. Pure: the caller passes
// the key and the time; no DOM, no timers.

export interface BarcodeOptions {
  /** Longest pause between two keys of one scan, in ms. People type slower than this. */
  maxGapMs: number;
  /** Shortest code accepted; shorter bursts are ignored (a stray key + Enter). */
  minLength: number;
}

export const DEFAULT_BARCODE: BarcodeOptions = { maxGapMs: 60, minLength: 3 };

export interface BarcodeKey {
  /** `KeyboardEvent.key` */
  key: string;
  /** Milliseconds, any monotonic clock (`KeyboardEvent.timeStamp`). */
  time: number;
  /** Ctrl, Alt or Meta held: a shortcut, never part of a scan. */
  modified?: boolean;
  /** Focus is in an editable field: the field gets the keys itself. */
  inField?: boolean;
}

export interface BarcodeState {
  buffer: string;
  last: number;
}

export const EMPTY_BARCODE: BarcodeState = { buffer: "", last: Number.NEGATIVE_INFINITY };

export interface BarcodeStep {
  state: BarcodeState;
  /** The scanned code, when this key was the Enter that ends a scan. */
  scanned: string | null;
  /** The key belongs to a scan; the caller should `preventDefault()` it. */
  consumed: boolean;
}

/** Whether `key` is one printable character (not "Shift", "ArrowUp", …). */
export function isPrintable(key: string): boolean {
  return [...key].length === 1 && key >= " ";
}

/** Feeds one key to the reader. */
export function feedBarcode(
  state: BarcodeState,
  input: BarcodeKey,
  options: BarcodeOptions = DEFAULT_BARCODE,
): BarcodeStep {
  if (input.inField || input.modified) {
    return { state: EMPTY_BARCODE, scanned: null, consumed: false };
  }
  const fast = input.time - state.last <= options.maxGapMs;
  if (input.key === "Enter") {
    const code = state.buffer.trim();
    if (fast && code.length >= options.minLength) {
      return { state: EMPTY_BARCODE, scanned: code, consumed: true };
    }
    return { state: EMPTY_BARCODE, scanned: null, consumed: false };
  }
  if (isPrintable(input.key)) {
    const buffer = fast ? state.buffer + input.key : input.key;
    // A burst already under way is a scan: keep its keys away from focused buttons.
    return { state: { buffer, last: input.time }, scanned: null, consumed: fast && buffer.length > 1 };
  }
  if (input.key === "Shift") {
    // Scanners press Shift for capitals; it neither ends nor breaks the burst.
    return { state, scanned: null, consumed: false };
  }
  return { state: EMPTY_BARCODE, scanned: null, consumed: false };
}

/** Whether keys typed with `element` focused go into that element. */
export function isEditable(element: Element | null): boolean {
  if (!element) return false;
  if (element instanceof HTMLTextAreaElement || element instanceof HTMLSelectElement) return true;
  if (element instanceof HTMLInputElement) {
    return !["checkbox", "radio", "button", "submit", "reset", "range", "color", "file"].includes(
      element.type,
    );
  }
  if (!(element instanceof HTMLElement)) return false;
  // jsdom lacks isContentEditable; the attribute is the fallback.
  return element.isContentEditable === true || (element.closest("[contenteditable]:not([contenteditable='false'])") !== null);
}
