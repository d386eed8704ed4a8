// Asks before a paste of several lines goes into a shell: each line would run
// as a command. A modal <dialog> (focus kept inside, Esc cancels) showing the
// first lines; resolves true for "Paste".

const PREVIEW_LINES = 6;

export function confirmPaste(container: HTMLElement, text: string): Promise<boolean> {
  const lines = text.replace(/[\r\n]+$/, "").split(/\r\n|\r|\n/);
  const dialog = document.createElement("dialog");
  dialog.className = "paste-dialog";
  dialog.setAttribute("aria-labelledby", "paste-dialog-title");
  const title = document.createElement("h3");
  title.id = "paste-dialog-title";
  title.textContent = `Paste ${lines.length} lines into the shell?`;
  const explain = document.createElement("p");
  explain.textContent = "Each line runs as a command.";
  const preview = document.createElement("pre");
  preview.tabIndex = 0; // it may scroll: reachable by keyboard
  preview.textContent =
    lines.slice(0, PREVIEW_LINES).join("\n") +
    (lines.length > PREVIEW_LINES ? `\n… and ${lines.length - PREVIEW_LINES} more` : "");
  const buttons = document.createElement("div");
  buttons.className = "toolbar";
  const ok = document.createElement("button");
  ok.type = "button";
  ok.className = "primary";
  ok.textContent = "Paste";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  buttons.append(ok, cancel);
  dialog.append(title, explain, preview, buttons);
  container.append(dialog);
  return new Promise((resolve) => {
    let answered = false;
    const done = (answer: boolean) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener("click", () => done(true), { once: true });
    cancel.addEventListener("click", () => done(false), { once: true });
    dialog.addEventListener("cancel", () => done(false), { once: true });
    dialog.showModal();
    cancel.focus();
  });
}
