// What the phone tests emulate (a 393×852 touch screen) and the app's pages, by their hash.
export const PHONE = { viewport: { width: 393, height: 852 }, isMobile: true, hasTouch: true } as const;
export const DESKTOP = { viewport: { width: 1280, height: 900 } } as const;
export const PAGES = ["device", "vms", "contribute", "credits", "network"] as const;
