#!/usr/bin/python3
"""The remote sender's page in a real browser: Debian's chromium, headless, driven by
chromium-driver through python3-selenium.  It loads the page of a refusal's reference and of an
unknown one, checks what a person sees (the check in plain words, the fix, the review form, the
style sheet applied under the page's Content-Security-Policy, no error in the browser's console)
and saves a screenshot of each into SCREENSHOT_DIR; the last line printed names them.

    tests/console/public_browser.py BASE_URL REF SCREENSHOT_DIR
"""
import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BASE, REF, SHOTS = sys.argv[1:4]
os.makedirs(SHOTS, exist_ok=True)
profile = tempfile.mkdtemp(prefix="ingress-chromium.")
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=900,1100",
            f"--user-data-dir={profile}"):
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
failed = []
try:
    driver.get(f"{BASE}/why/{REF}")
    heading = driver.find_element(By.TAG_NAME, "h2").text
    body = driver.find_element(By.TAG_NAME, "body").text
    if "reverse DNS (PTR)" not in heading:
        failed.append(f"the check in plain words: {heading!r}")
    if "What to fix on your side" not in body or "PTR record" not in body:
        failed.append("the fix is not shown")
    if not driver.find_elements(By.CSS_SELECTOR, "form textarea[name=text]"):
        failed.append("no review form")
    # The style sheet loaded under default-src 'none'; style-src 'self'.
    width = driver.execute_script(
        "return getComputedStyle(document.querySelector('main')).maxWidth")
    if width in ("none", ""):
        failed.append(f"the style sheet was not applied (main max-width {width!r})")
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    if errors:
        failed.append(f"browser console errors: {errors}")
    page = os.path.join(SHOTS, "public-why.png")
    driver.save_screenshot(page)
    driver.get(f"{BASE}/why/AAAAAAAAAAAAAAAA")
    if "No refusal with this reference" not in driver.find_element(By.TAG_NAME, "h1").text:
        failed.append("the unknown reference's page")
    missing = os.path.join(SHOTS, "public-why-unknown.png")
    driver.save_screenshot(missing)
finally:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
if failed:
    print("\n".join(failed))
    sys.exit(1)
print(f"screenshots: {page} {missing}")
