import { describe, expect, it, vi } from "vitest";
import type { LogLine } from "./api-types";

const ipc = vi.hoisted(() => ({ recentLogs: vi.fn(), subscribeLogs: vi.fn() }));
vi.mock("./ipc", () => ipc);

import { LogFeed } from "./log-feed.svelte";

const line = (n: number): LogLine => ({ ts: "t", level: "INFO", target: "x", message: `m${n}` });

describe("LogFeed", () => {
  it("subscribes once, batches live lines and keeps the newest `cap` with stable keys", async () => {
    let push: (l: LogLine) => void = () => {};
    ipc.recentLogs.mockResolvedValue([line(0), line(1), line(2)]);
    ipc.subscribeLogs.mockImplementation(async (cb: (l: LogLine) => void) => {
      push = cb;
    });
    const feed = new LogFeed(4, 5);
    await Promise.all([feed.start(), feed.start()]);
    await feed.start();
    expect(ipc.subscribeLogs).toHaveBeenCalledTimes(1);
    expect(feed.lines.map((l) => l.seq)).toEqual([0, 1, 2]);

    push(line(3));
    push(line(4));
    expect(feed.lines).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 20));
    expect(feed.lines.map((l) => l.line.message)).toEqual(["m1", "m2", "m3", "m4"]);
    expect(feed.lines.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
  });
});
