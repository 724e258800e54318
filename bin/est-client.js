#!/usr/bin/env node
// Launcher for the est-client CLI (built output).
import { runAsProcess } from '../dist/cli/est-client.js';

runAsProcess();
