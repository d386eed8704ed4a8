// Whether a phone's on-screen keyboard is up: a text field has the focus and
// the window is well short of the tallest it has been at this width (the page
// asks the keyboard to resize it: index.html's interactive-widget). The tab bar
// gives the keyboard its room only then. Hiding it on focus alone made a tap on
// a button near the bottom land on the bar: the tap's first touch takes the
// focus from the shell, the bar came back under the finger, and the tap was lost.
export const KEYBOARD_ATTR = "keyboard";

/** Share of the tallest height below which a focused field means the keyboard is up. */
const KEYBOARD_SHARE = 0.8;

function isTextField(el: Element | null): boolean {
  return el instanceof HTMLTextAreaElement || (el instanceof HTMLInputElement && el.type !== "checkbox");
}

/** Keeps `<html data-keyboard="open">` while the keyboard is up; returns what stops it. */
export function watchKeyboard(win: Window): () => void {
  const tallest = new Map<number, number>();
  const update = () => {
    const height = win.visualViewport?.height ?? win.innerHeight;
    const width = win.innerWidth;
    const most = Math.max(tallest.get(width) ?? 0, height);
    tallest.set(width, most);
    const open = isTextField(win.document.activeElement) && height < most * KEYBOARD_SHARE;
    const root = win.document.documentElement;
    if (open) root.dataset[KEYBOARD_ATTR] = "open";
    else delete root.dataset[KEYBOARD_ATTR];
  };
  const controller = new AbortController();
  const { signal } = controller;
  win.visualViewport?.addEventListener("resize", update, { signal });
  win.addEventListener("resize", update, { signal });
  win.document.addEventListener("focusin", update, { signal });
  win.document.addEventListener("focusout", () => queueMicrotask(update), { signal });
  update();
  return () => controller.abort();
}
