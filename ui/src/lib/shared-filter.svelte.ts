// The Journal filter, shared by the Journal and Yield screens: a filter applied on one is the
// filter of the other, so QA looks at the same sessions as rows and as figures.
import type { SessionFilter } from "./api-types";
import { EMPTY_FILTER_FORM, toSessionFilter, type FilterForm } from "./journal";

class SharedFilter {
  /** The form as being typed (both screens show the same fields). */
  form: FilterForm = $state({ ...EMPTY_FILTER_FORM });
  /** The form as last applied: a new object on every Apply, so screens reload even when unchanged. */
  applied: FilterForm = $state({ ...EMPTY_FILTER_FORM });

  /** The backend filter of the applied form. */
  get filter(): SessionFilter {
    return toSessionFilter(this.applied);
  }

  apply() {
    this.applied = { ...this.form };
  }

  /** Back to no filter: each operator who signs in starts without the last one's filter. */
  reset() {
    this.form = { ...EMPTY_FILTER_FORM };
    this.applied = { ...EMPTY_FILTER_FORM };
  }
}

export const sharedFilter = new SharedFilter();
