import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

const ipc = vi.hoisted(() => ({ login: vi.fn() }));
vi.mock("../lib/ipc", () => ipc);

import Login from "./Login.svelte";

async function signIn(pin = "9999") {
  await userEvent.type(screen.getByLabelText("Operator id"), "tech1");
  await userEvent.type(screen.getByLabelText("PIN"), pin);
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("Login", () => {
  beforeEach(() => {
    ipc.login.mockReset();
  });

  it("says plainly that the PIN is wrong and clears it", async () => {
    ipc.login.mockRejectedValue({ code: "operator.bad_pin", message: "bad pin", detail: null });
    render(Login, { onlogin: vi.fn() });
    await signIn();
    await waitFor(() => expect(document.getElementById("login-error")).toHaveTextContent("Wrong operator id or PIN"));
    expect(screen.getByLabelText("PIN")).toHaveValue("");
    expect(screen.getByLabelText("PIN")).toHaveAttribute("aria-invalid", "true");
  });

  it("says plainly that the operator is locked out", async () => {
    ipc.login.mockRejectedValue({ code: "operator.locked_out", message: "Try again in 5 minutes.", detail: null });
    render(Login, { onlogin: vi.fn() });
    await signIn();
    await waitFor(() => expect(document.getElementById("login-error")).toHaveTextContent(/locked out.*5 minutes/));
  });

  it("hands the operator to the shell", async () => {
    const onlogin = vi.fn();
    ipc.login.mockResolvedValue({ id: "tech1", role: "technician" });
    render(Login, { onlogin });
    await signIn("1234");
    await waitFor(() => expect(onlogin).toHaveBeenCalledWith({ id: "tech1", role: "technician" }));
    expect(ipc.login).toHaveBeenCalledWith("tech1", "1234");
  });
});
