"""Opens a VolSeg report or view page in headless Chromium (Selenium with Debian's chromedriver)
and checks it as a user would use it. Prints one JSON object with what it found; the Swift tests
(ReportBrowserTests) decide what must hold.

    check_page.py PAGE.html [--case ID] [--world X Y Z --label VALUE] [--screenshot OUT.png]

- console: the browser's SEVERE console entries (errors) while loading and using the page;
- table_ms / case_ms: milliseconds from navigation to the table, and from the click to the case;
- sorted_initial / sorted_after_click / sorted_after_second_click: the Dice column as the page opens
  and after one and two clicks on its header;
- keys: the axial slice readout before and after ArrowUp, PageUp and ArrowDown;
- pixel_filled / pixel_hidden: the screenshot's colour at the centre of the voxel at world (X, Y, Z)
  with --source (prediction or reference) filled at opacity 1 and the other hidden, then with it
  hidden too;
- expected_colour: the viewer's colour for VALUE; channels: the modality choices, and whether
  choosing another changes that pixel.
"""
import argparse
import io
import json
import sys
import time

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("page")
    parser.add_argument("--case")
    parser.add_argument("--world", nargs=3, type=float)
    parser.add_argument("--label", type=int)
    parser.add_argument("--source", default="prediction", choices=["prediction", "reference"])
    parser.add_argument("--screenshot")
    args = parser.parse_args()

    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100",
                 "--force-device-scale-factor=1", "--hide-scrollbars"]:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    out = {}
    try:
        driver.get("file://" + args.page)
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        out["table_ms"] = driver.execute_script("return window.volsegTiming.tableReady")
        has_table = driver.execute_script("return !document.getElementById('table-section').hidden")
        out["has_table"] = has_table
        if has_table:
            def dice_column():
                cells = driver.find_elements(By.CSS_SELECTOR, "#case-table tbody tr td:nth-child(2)")
                return [c.text for c in cells]
            header = lambda: driver.find_element(By.CSS_SELECTOR, "#case-table th[data-key=dice]")
            out["sorted_initial"] = dice_column()
            header().click()
            out["sorted_after_click"] = dice_column()
            header().click()
            out["sorted_after_second_click"] = dice_column()
            out["label_options"] = [o.text for o in Select(driver.find_element(By.ID, "label-filter")).options]
        if args.case is not None:
            started = driver.execute_script("return performance.now()")
            links = driver.find_elements(By.CSS_SELECTOR, f"a[data-case='{args.case}']")
            if links:   # the table's (or a section's) link; a view page opens its case by itself
                links[0].click()
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-case-ready") == args.case)
            out["case_ms"] = driver.execute_script("return window.volsegTiming.caseReady") - (started if links else 0)
            axial = driver.find_element(By.ID, "canvas-axial")
            readout = lambda: driver.find_element(By.ID, "slice-axial").text
            axial.click()
            keys = [readout()]
            for key in [Keys.ARROW_UP, Keys.PAGE_UP, Keys.ARROW_DOWN]:
                axial.send_keys(key)
                keys.append(readout())
            out["keys"] = keys
            channel_select = driver.find_elements(By.ID, "channel")
            out["channels"] = [o.text for o in Select(channel_select[0]).options] if channel_select else []
            if args.world is not None:
                def pixel(point):
                    png = driver.get_screenshot_as_png()
                    image = Image.open(io.BytesIO(png)).convert("RGB")
                    return list(image.getpixel((int(point["x"]), int(point["y"]))))
                other = "reference" if args.source == "prediction" else "prediction"
                for found in driver.find_elements(By.ID, "mode-" + other):
                    Select(found).select_by_value("hidden")
                Select(driver.find_element(By.ID, "mode-" + args.source)).select_by_value("filled")
                driver.execute_script("const o = document.getElementById('opacity'); o.value = '1'; o.dispatchEvent(new Event('input'));")
                points = driver.execute_script("return window.volsegViewer.goToWorld(arguments[0], arguments[1], arguments[2])", *args.world)
                out["points"] = points
                out["axial_readout"] = readout()
                out["pixel_filled"] = pixel(points[0])
                out["expected_colour"] = driver.execute_script("return window.volsegViewer.colour(arguments[0])", args.label)
                if args.screenshot:
                    driver.save_screenshot(args.screenshot)
                Select(driver.find_element(By.ID, "mode-" + args.source)).select_by_value("hidden")
                out["pixel_hidden"] = pixel(points[0])
                if channel_select:
                    before = pixel(points[0])
                    Select(channel_select[0]).select_by_index(len(out["channels"]) - 1)
                    out["channel_changes_pixel"] = pixel(points[0]) != before
            driver.find_element(By.ID, "largest-error").click()
            out["after_largest_error"] = readout()
            if args.screenshot and args.world is None:
                driver.save_screenshot(args.screenshot)
        elif args.screenshot:
            driver.save_screenshot(args.screenshot)
        out["console"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
