// A screenshot of the MLflow UI comparing runs (its compare page, parallel-coordinates plot of one
// parameter and the chosen metrics, drawn by MLflow itself), taken by headless Chromium
// (docs/tracking.md):
//
//   .venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000 &
//   npm install --prefix /tmp/shot @sparticuz/chromium@153 puppeteer-core@25
//   NODE_PATH=/tmp/shot/node_modules node scripts/mlflow_screenshot.cjs http://127.0.0.1:5000 \
//       <experiment id> <out.png> <run id>,<run id> <parameter> <metric>,<metric>,...
const chromium = require("@sparticuz/chromium").default ?? require("@sparticuz/chromium");
const puppeteer = require("puppeteer-core");

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const [base, experiment, out, runIds, parameter, metrics] = process.argv.slice(2);
  if (!metrics) {
    throw new Error("usage: mlflow_screenshot.cjs <ui url> <experiment id> <out.png> <run ids> <parameter> <metrics>");
  }
  const runs = encodeURIComponent(JSON.stringify(runIds.split(",")));
  const experiments = encodeURIComponent(JSON.stringify([experiment]));
  const browser = await puppeteer.launch({
    args: chromium.args, executablePath: await chromium.executablePath(), headless: true,
    defaultViewport: {width: 1400, height: 900},
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${base}/#/compare-runs?runs=${runs}&experiments=${experiments}`, {waitUntil: "networkidle0"});
    await page.waitForFunction(() => document.body.innerText.includes("Parallel Coordinates Plot"), {timeout: 60000});
    await page.evaluate(() => {  // the assistant panel off; the plot's default choices cleared
      document.querySelector("button[aria-label='Close']")?.click();
      [...document.querySelectorAll("button")].find((b) => b.innerText.trim() === "Clear All")?.click();
    });
    await pause(500);
    const choose = async (box, name) => {  // the plot's two pickers: parameters, then metrics
      const input = (await page.$$("input[type=search]"))[box];
      await input.click();
      await input.type(name);
      await pause(400);
      await page.keyboard.press("Enter");
      await pause(300);
      await page.keyboard.press("Escape");
    };
    await choose(0, parameter);
    for (const metric of metrics.split(",")) await choose(1, metric);
    await pause(1500);
    await page.screenshot({path: out});
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => { console.error(err.message); process.exit(1); });
