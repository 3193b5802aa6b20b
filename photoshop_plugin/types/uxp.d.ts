// The small part of UXP's own `uxp` module that main.js uses (no published types cover it).
declare module "uxp" {
  export const entrypoints: {
    setup(definition: {
      panels?: Record<string, { create?(root: HTMLElement): void; show?(root: HTMLElement): void; hide?(): void }>;
      commands?: Record<string, () => void | Promise<void>>;
    }): void;
  };
  /** UXP's and the plugin's versions. */
  export const versions: { uxp: string; plugin: string };
  /** The host application. */
  export const host: { name: string; version: string; uiLocale?: string };
  export const storage: {
    localFileSystem: { getDataFolder(): Promise<{ nativePath: string }> };
  };
}
