// The app's one subscription to the backend log stream. `subscribeLogs` streams until the
// window closes, so it is called once per app run, however often the Log screen is shown.
import type { LogLine } from "./api-types";
import type { ErrorInfo } from "./bindings";
import { recentLogs, subscribeLogs } from "./ipc";
import { LOG_CAP, appendCapped } from "./logbuffer";

/** A log line with a stable key for the console's list. */
export interface FeedLine {
  seq: number;
  line: LogLine;
}

export class LogFeed {
  lines: FeedLine[] = $state.raw([]);
  loading = $state(false);
  failure: ErrorInfo | null = $state(null);
  private started = false;
  private seq = 0;
  private pending: FeedLine[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly cap = LOG_CAP,
    /** Live lines arrive in bursts; they are added at most this often (ms). */
    private readonly batchMs = 100,
  ) {}

  private wrap = (line: LogLine): FeedLine => ({ seq: this.seq++, line });

  private flush = () => {
    this.timer = null;
    this.lines = appendCapped(this.lines, this.pending, this.cap);
    this.pending = [];
  };

  private receive = (line: LogLine) => {
    this.pending.push(this.wrap(line));
    if (this.pending.length > this.cap) this.pending = this.pending.slice(-this.cap);
    this.timer ??= setTimeout(this.flush, this.batchMs);
  };

  /** Loads the recent lines and subscribes; later calls do nothing. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.loading = true;
    try {
      this.lines = appendCapped([], (await recentLogs()).map(this.wrap), this.cap);
      await subscribeLogs(this.receive);
    } catch (e) {
      this.failure = e as ErrorInfo;
      this.started = false;
    } finally {
      this.loading = false;
    }
  }
}

/** The app-wide feed. */
export const logFeed = new LogFeed();
