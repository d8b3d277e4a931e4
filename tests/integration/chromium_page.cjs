// The system Chromium through playwright-core, one page, its errors collected in
// result.console: shared by the page drivers (websdk_player.cjs, hls_player.cjs).
const { chromium } = require('playwright-core');

async function openPage(udd, exe, flagsJson, result) {
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: exe, headless: true, args: JSON.parse(flagsJson), timeout: 30000,
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => result.console.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') result.console.push(m.text()); });
  return { ctx, page };
}

module.exports = { openPage };
