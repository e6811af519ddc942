#!/usr/bin/env node
// Committed so that npm links this bin at install time; the built command is in dist/.
import '../dist/src/bin/qshape.js';
