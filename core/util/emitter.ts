// A small typed event emitter whose `on` returns the function that unsubscribes,
// so whoever subscribes holds what ends the subscription.

// biome-ignore lint/suspicious/noExplicitAny: handler signatures vary per event
type Handlers<E> = { [K in keyof E]: (...args: any[]) => void };

export class Emitter<E extends Handlers<E>> {
  private readonly handlers = new Map<keyof E, Set<E[keyof E]>>();

  on<K extends keyof E>(event: K, handler: E[K]): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const handler of [...set]) (handler as E[K])(...args);
  }

  clear(): void {
    this.handlers.clear();
  }
}
