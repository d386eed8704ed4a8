// Which page is shown: "#device" (the default), "#vms", "#contribute", "#credits" or "#network".
const PAGES: Record<string, string> = {
  device: "local-vm",
  vms: "my-vms",
  contribute: "contribute",
  credits: "credits",
  network: "network",
};

/** Shows the page the URL names; `onShow` hears which one. */
export function showPageFromHash(onShow?: (page: string) => void): void {
  const wanted = PAGES[location.hash.slice(1)] ?? "local-vm";
  onShow?.(wanted);
  for (const id of Object.values(PAGES)) {
    const section = document.getElementById(id);
    if (section) section.hidden = id !== wanted;
  }
  for (const link of document.querySelectorAll<HTMLAnchorElement>("nav a[data-page]")) {
    if (link.dataset.page === wanted) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}
