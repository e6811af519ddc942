// Lint rules that hold /work/shared/DESIGN.md's brief; the rules themselves are in
// tools/eslint-config. Run by `npm test` (scripts/lint.mjs) and by `npx eslint <files>`.
import { config } from '@postern/eslint-config';

export default config(import.meta.dirname);
