#!/usr/bin/env node
// The command line is @postern/cli's; this bin makes a global install of the whole system link it too.
import '@postern/cli/bin/mailq.js';
