/** A view owns its element and everything it started; dispose stops it all. */
export interface View {
  el: HTMLElement;
  dispose(): void;
}

/** Ctx is what the router gives a view. */
export interface Ctx {
  url: URL;
  navigate(path: string, replace?: boolean): void;
  setQuery(p: URLSearchParams, push?: boolean): void;
}
