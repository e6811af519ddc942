/**
 * A ConfigView for a test: core's parameters plus the packages' parameter schemas
 * given, main.cf from lines or a name→value record, -o overrides.
 */
import { createConfigView, parseMainCf, ParameterRegistry, type ConfigView, type ParameterSpec } from '@postern/core';

export interface TestConfigOptions {
  /** The directory the view reports as its configuration directory. */
  readonly configDirectory: string;
  /** main.cf: its text, or parameter names and values. */
  readonly mainCf?: string | Readonly<Record<string, string | number>>;
  /** Parameter schemas to declare beside core's, by package name. */
  readonly parameters?: Readonly<Record<string, readonly ParameterSpec[]>>;
  /** The -o overrides of the process's master.cf entry. */
  readonly overrides?: Readonly<Record<string, string>>;
}

export function testConfig(options: TestConfigOptions): ConfigView {
  const registry = ParameterRegistry.withCore();
  for (const [owner, specs] of Object.entries(options.parameters ?? {})) registry.declare(owner, specs);
  const main = options.mainCf ?? '';
  const text = typeof main === 'string' ? main : Object.entries(main).map(([k, v]) => `${k} = ${v}\n`).join('');
  return createConfigView({ registry, configDirectory: options.configDirectory, mainCf: parseMainCf(text), overrides: options.overrides });
}
