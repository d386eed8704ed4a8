// What a hidden tab does to a page, for headless Chromium, which never hides
// one: measured on Chromium 156 headless, a page stays "visible" with its timers
// at full rate under another tab brought to front, focus emulation off, or its
// window minimised (tests/e2e/hidden-contributor.test.ts says so again each run).
// Chrome's documented throttling of hidden pages is what matters to the app:
// timers wake at most once a second, chained ones (nesting level >= 5) once a
// minute under intensive throttling, and requestAnimationFrame stops; events
// (WebRTC data channel messages, worker messages) still arrive at once. This
// script, added before the app loads, does exactly that to the page's own
// timers when the test calls window.__emulateHidden(true) (intensive from the
// start: the harshest case), and counts the wake-ups so the test can check it.
export const HIDDEN_PAGE_EMULATION = `(() => {
  const realSetTimeout = window.setTimeout.bind(window);
  const realClearTimeout = window.clearTimeout.bind(window);
  const realRaf = window.requestAnimationFrame.bind(window);
  let hidden = false;
  let nesting = 0;
  let nextId = 1;
  const timers = new Map();
  const stats = { wakeups: 0, chainedWakeups: 0, hiddenSince: 0 };
  const frames = [];
  const delayFor = (ms, level) => {
    if (!hidden) return ms;
    const step = level >= 5 ? 60000 : 1000;
    const due = Date.now() + Math.max(0, ms);
    return Math.ceil(due / step) * step - Date.now();
  };
  const schedule = (id, fn, ms, args, repeat) => {
    const level = Math.min(nesting + 1, 100);
    const run = () => {
      const prev = nesting;
      nesting = level;
      if (hidden) {
        stats.wakeups++;
        if (level >= 5) stats.chainedWakeups++;
      }
      try {
        if (typeof fn === "function") fn(...args);
      } finally {
        nesting = prev;
        if (repeat && timers.has(id)) {
          const p = nesting;
          nesting = level;
          schedule(id, fn, ms, args, repeat);
          nesting = p;
        } else if (!repeat) timers.delete(id);
      }
    };
    timers.set(id, realSetTimeout(run, delayFor(ms, level)));
  };
  window.setTimeout = (fn, ms = 0, ...args) => {
    const id = nextId++;
    schedule(id, fn, Number(ms) || 0, args, false);
    return id;
  };
  window.setInterval = (fn, ms = 0, ...args) => {
    const id = nextId++;
    schedule(id, fn, Number(ms) || 0, args, true);
    return id;
  };
  window.clearTimeout = window.clearInterval = (id) => {
    const real = timers.get(id);
    timers.delete(id);
    if (real !== undefined) realClearTimeout(real);
  };
  window.requestAnimationFrame = (fn) => {
    if (!hidden) return realRaf(fn);
    frames.push(fn);
    return -frames.length;
  };
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  window.__emulateHidden = (on) => {
    if (on === hidden) return;
    hidden = on;
    if (on) stats.hiddenSince = Date.now();
    document.dispatchEvent(new Event("visibilitychange"));
    if (!on) for (const fn of frames.splice(0)) realRaf(fn);
  };
  window.__hiddenStats = () => ({ ...stats, hiddenMs: hidden ? Date.now() - stats.hiddenSince : 0 });
})();`;
