#!/usr/bin/env bash
# Rebuilds themes/default/static/app.css (committed) from the templates with the
# Tailwind CSS CLI from npm. Only needed after changing templates; building and
# running Gatehouse never needs Node.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund 2>/dev/null || npm install --no-audit --no-fund
npm run build
