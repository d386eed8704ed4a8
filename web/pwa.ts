// Service worker registration: offline support, and a prompt when a new version
// has been deployed (the new version waits until the user accepts).
import { registerSW } from "virtual:pwa-register";

export function setUpServiceWorker(banner: HTMLElement, updateButton: HTMLButtonElement): void {
  if (!("serviceWorker" in navigator)) return;
  const updateSW = registerSW({
    immediate: true,
    onNeedRefresh() {
      banner.hidden = false;
    },
    onRegisterError(error: unknown) {
      console.warn("service worker registration failed", error);
    },
  });
  updateButton.addEventListener("click", () => {
    updateButton.disabled = true;
    // workbox-window reloads only for updates it found itself; an update the browser
    // found later ("external") takes control without a reload, so reload here.
    navigator.serviceWorker.addEventListener("controllerchange", () => window.location.reload(), {
      once: true,
    });
    void updateSW(true);
  });
}
