import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { LogLine } from "../lib/api-types";

const ipc = vi.hoisted(() => ({ recentLogs: vi.fn(), subscribeLogs: vi.fn() }));
vi.mock("../lib/ipc", () => ipc);

import Log from "./Log.svelte";

const line = (n: number, level: LogLine["level"] = "INFO"): LogLine => ({
  ts: "2026-11-23T10:00:00Z",
  level,
  target: "commissioner",
  message: `line ${n}`,
});

const shown = () => document.querySelectorAll("#log-console li");

describe("Log console", () => {
  it("starts from the recent lines, appends live ones and keeps at most 2,000", async () => {
    let push: (l: LogLine) => void = () => {};
    ipc.recentLogs.mockResolvedValue(Array.from({ length: 1990 }, (_, i) => line(i)));
    ipc.subscribeLogs.mockImplementation(async (cb: (l: LogLine) => void) => {
      push = cb;
    });
    render(Log);
    await waitFor(() => expect(shown()).toHaveLength(1990));
    for (let i = 1990; i < 2025; i++) push(line(i, i === 2024 ? "ERROR" : "INFO"));
    await waitFor(() => expect(shown()).toHaveLength(2000));
    expect(shown()[0]).toHaveTextContent("line 25");
    expect(shown()[1999]).toHaveTextContent(/✖\s*ERROR.*line 2024/);

    await userEvent.selectOptions(screen.getByLabelText("Show"), "WARN");
    await waitFor(() => expect(shown()).toHaveLength(1));
    expect(document.getElementById("log-level")).toHaveValue("WARN");
  });
});
