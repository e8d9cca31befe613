// One commissioning run on one target, as reactive state shared by the Line and Recommission
// screens (both render it with UnitCard).
import type { CommissionOptions } from "./api-types";
import type { ErrorInfo, ProgressEvent, Report } from "./bindings";
import { STEPS } from "./bindings";
import { cancelCommission, commission } from "./ipc";
import { unitOutcome, type UnitOutcome } from "./outcome";
import { applyProgress, finishSteps, initialSteps, stepLabel, type StepView } from "./progress";

export class UnitRun {
  readonly target: string;
  running = $state(false);
  cancelling = $state(false);
  steps: StepView[] = $state(initialSteps());
  /** Steps finished so far, for the progress bar. */
  done = $state(0);
  total = $state<number>(STEPS.length);
  current: string | null = $state(null);
  report: Report | null = $state(null);
  error: ErrorInfo | null = $state(null);
  cancelError: ErrorInfo | null = $state(null);

  constructor(target: string) {
    this.target = target;
  }

  get outcome(): UnitOutcome | null {
    return this.running ? null : unitOutcome(this.report, this.error);
  }

  /** Why the run did not pass: the report's error, or the IPC error. */
  get reason(): ErrorInfo | null {
    return this.error ?? this.report?.error ?? null;
  }

  get currentLabel(): string {
    return this.current ? stepLabel(this.current) : "";
  }

  private onProgress(event: ProgressEvent) {
    this.steps = applyProgress(this.steps, event);
    this.total = event.total;
    this.current = event.step;
    this.done = event.status === "started" ? event.index : event.index + 1;
  }

  /** Runs the pipeline; resolves when it has ended, whatever the result. */
  async start(options: CommissionOptions): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.report = null;
    this.error = null;
    this.cancelError = null;
    this.steps = initialSteps();
    this.done = 0;
    this.total = STEPS.length;
    this.current = null;
    try {
      this.report = await commission(this.target, (e) => this.onProgress(e), options);
    } catch (e) {
      this.error = e as ErrorInfo;
    } finally {
      this.steps = finishSteps(this.steps, this.report);
      this.running = false;
      this.cancelling = false;
    }
  }

  async cancel(): Promise<void> {
    if (!this.running || this.cancelling) return;
    this.cancelling = true;
    try {
      await cancelCommission(this.target);
    } catch (e) {
      this.cancelError = e as ErrorInfo;
      this.cancelling = false;
    }
  }
}
