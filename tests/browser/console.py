#!/usr/bin/python3
"""Drives Sigil's web console in headless Chromium (Debian chromium + chromium-driver, Selenium).

Run by crates/cli/tests/console_browser.rs, which starts the real server, creates the data and
the waiting `sigil sign` clients, then checks their outputs and the audit log. This script
reads its settings as one JSON object on stdin (passwords are never arguments) and prints
progress lines on stdout; the Rust test reacts to `logged-in` by starting the client whose
request must appear in the open page without a reload. Any failed check raises: exit status 1.

What it checks in the browser:
- an approver logs in, the login panel folds away, the pending items appear; every metadata
  field holding an XSS payload renders as text (no element injected, no dialog);
- a build URL is a link only when it is https:;
- the approver approves (comment with a payload) and denies (a reason is required; the reason
  with a payload renders as text); a new request appears without a reload; filters work;
- two administrators complete a dual-control session in the console and unlock and disable
  an identity locked by failed logins;
- the browser log has no error (no 404, no CSP violation).
"""
import base64
import hashlib
import json
import ssl
import sys
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CFG = json.load(sys.stdin)
BASE = CFG["url"]
WAIT = 90  # seconds: an upper bound for a loaded machine, never a timing assertion


def step(text):
    print(text, flush=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def fail_logins(identity, attempts):
    """Wrong passwords through the API until the identity is locked (as a forgetful user)."""
    context = ssl.create_default_context(cafile=CFG["ca"])
    for _ in range(attempts):
        body = json.dumps({"identity": identity, "password": "wrong-password"}).encode()
        request = urllib.request.Request(
            BASE + "/api/v1/login", data=body, headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, context=context)
            raise AssertionError("a wrong password logged in")
        except urllib.error.HTTPError as error:
            check(error.code == 401, f"wrong password answered {error.code}")


def listener_spki_hash():
    """SHA-256 of the listener's public key: Chromium trusts that key only (not any cert)."""
    host, port = BASE.removeprefix("https://").rsplit(":", 1)
    pem = ssl.get_server_certificate((host, int(port)), ca_certs=CFG["ca"])
    spki = x509.load_pem_x509_certificate(pem.encode()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def browser():
    options = Options()
    options.binary_location = CFG.get("chromium", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--ignore-certificate-errors-spki-list=" + listener_spki_hash(),
                "--window-size=1280,2000"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CFG.get("chromedriver", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def wait(driver, predicate, what):
    return WebDriverWait(driver, WAIT).until(lambda d: predicate(d), message="waiting for " + what)


def shown(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def message(driver):
    return driver.find_element(By.ID, "message").text


def login(driver, identity, password):
    driver.find_element(By.ID, "identity").send_keys(identity)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait(driver, lambda d: identity in d.find_element(By.ID, "who").text, identity + " logged in")


ITEMS = "#releases > article, #requests > article"


def items(driver):
    """The release and request articles on the page."""
    return driver.find_elements(By.CSS_SELECTOR, ITEMS)


def items_with(driver, marker, selector=ITEMS):
    """The articles showing `marker`, read in one step (a poll may replace them meanwhile)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".filter(a => a.innerText.includes(arguments[1]))", selector, marker)


def states(driver, marker):
    """The state texts of the articles showing `marker`."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".filter(a => a.innerText.includes(arguments[1]))"
        ".map(a => a.querySelector('.state').textContent)", ITEMS, marker)


def no_injection(driver):
    """No payload became markup: no image, no extra script, no handler attribute, no dialog."""
    counts = driver.execute_script(
        "return [document.querySelectorAll('img').length,"
        " document.querySelectorAll('script').length,"
        " document.querySelectorAll('[onerror],[onload],iframe,svg').length,"
        " [...document.querySelectorAll('a')].filter(a => !a.href.startsWith('https:')).length]")
    check(counts == [0, 1, 0, 0], f"injected elements (img, script, handlers, non-https links): {counts}")
    try:
        text = driver.switch_to.alert.text
        raise AssertionError("a dialog opened: " + text)
    except NoAlertPresentException:
        pass


def build_cell(article):
    return article.find_element(By.CSS_SELECTOR, ".build")


def approver_part(driver):
    xss = CFG["xss"]
    login(driver, CFG["approver"]["name"], CFG["approver"]["password"])
    wait(driver, lambda d: not shown(d, "login-panel") and shown(d, "add-login"),
         "the login panel to fold away")
    step("logged-in")

    approve_marker, deny_marker, http_marker = CFG["approve_marker"], CFG["deny_marker"], CFG["http_marker"]
    releases, singles = "#releases > article", "#requests > article"

    def release_ready(d):
        found = items_with(d, approve_marker, releases)
        return len(found) == 1 and found[0].find_element(
            By.CSS_SELECTOR, "button[value=approve]").is_displayed()

    # The release is one item with its files (approvable once all arrived); the single
    # request stays on its own; no file of the release is listed on its own.
    wait(driver, lambda d: release_ready(d) and items_with(d, http_marker, singles),
         "the pending release and request")
    check(not items_with(driver, approve_marker, singles), "a file of the release is listed on its own")
    release = items_with(driver, approve_marker)[0]
    rows = release.find_elements(By.CSS_SELECTOR, ".files tbody tr")
    check(len(rows) == CFG["release_files"], f"the release shows {len(rows)} files")
    check(xss in release.find_element(By.CSS_SELECTOR, ".files").text,
          "the file name payload is not shown as text")
    # One identity on the session: no "As" choice.
    for article in items(driver):
        check(not article.find_element(By.CSS_SELECTOR, ".actor").is_displayed(),
              "an As choice with one identity")
    page = driver.find_element(By.TAG_NAME, "main").text
    for name, value in CFG["shown_as_text"].items():
        check(value in page, f"{name} is not shown as text: {value!r}")
    no_injection(driver)

    # The https: build URL is a link to exactly that URL; the http: one is plain text.
    links = build_cell(release).find_elements(By.TAG_NAME, "a")
    check(len(links) == 1, "the https: build URL is not a link")
    check(links[0].get_attribute("href") == CFG["https_build_url_href"],
          "link target " + str(links[0].get_attribute("href")))
    check(links[0].text == CFG["https_build_url"], "link text " + links[0].text)
    for article in items_with(driver, http_marker):
        check(not build_cell(article).find_elements(By.TAG_NAME, "a"), "an http: build URL is a link")
        check(build_cell(article).text == CFG["http_build_url"], "http: build URL text")

    # Filters: an unknown requester or another policy shows nothing; the right ones show them.
    requester = driver.find_element(By.ID, "requester-filter")
    requester.send_keys("nobody-such\n")
    wait(driver, lambda d: not items(d) and shown(d, "empty"), "the requester filter")
    requester.clear()
    driver.find_element(By.ID, "policy-filter").send_keys(CFG["policy"] + "\n")
    wait(driver, lambda d: release_ready(d) and items_with(d, http_marker, singles), "the policy filter")

    # Approve: one action for the whole release; with the quorum reached, every file is signed.
    release = items_with(driver, approve_marker)[0]
    release.find_element(By.CSS_SELECTOR, ".comment").send_keys(CFG["approve_comment"])
    release.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    wait(driver, lambda d: "is now signed" in message(d), "the approval")
    wait(driver, lambda d: not items_with(d, approve_marker), "the release to leave the pending list")
    step("approved")

    # The request started after the login appears without a reload; its javascript: build
    # URL is text. A denial without a reason is refused in the page; with one it is denied.
    wait(driver, lambda d: items_with(d, deny_marker), "the new request to appear by itself")
    article = items_with(driver, deny_marker)[0]
    check(not build_cell(article).find_elements(By.TAG_NAME, "a"), "a javascript: build URL is a link")
    check(build_cell(article).text == CFG["javascript_build_url"], "javascript: build URL text")
    no_injection(driver)
    article.find_element(By.CSS_SELECTOR, "button[value=deny]").click()
    wait(driver, lambda d: "needs a comment" in message(d), "the refusal of a denial without reason")
    check(items_with(driver, deny_marker), "denied without a reason")
    # Enter in the reason does not press the first button (Approve).
    article.find_element(By.CSS_SELECTOR, ".comment").send_keys(CFG["deny_reason"] + "\n")
    wait(driver, lambda d: "Click Approve or Deny" in message(d), "Enter to decide nothing")
    check(items_with(driver, deny_marker), "Enter in the comment decided")
    article.find_element(By.CSS_SELECTOR, "button[value=deny]").click()
    wait(driver, lambda d: "is now denied" in message(d), "the denial")
    step("denied")

    # The decisions as recorded: the reason and the comment, as text.
    Select(driver.find_element(By.ID, "state-filter")).select_by_value("denied")
    wait(driver, lambda d: [s for s in states(d, deny_marker) if s.startswith("denied")],
         "the denied item")
    state = states(driver, deny_marker)[0]
    check(CFG["deny_reason"] in state, "the reason is not shown as text: " + state)
    Select(driver.find_element(By.ID, "state-filter")).select_by_value("signed")
    wait(driver, lambda d: states(d, approve_marker) == ["signed"], "the signed release")
    release = items_with(driver, approve_marker)[0]
    approvals = release.find_element(By.CSS_SELECTOR, ".approvals").text
    check(CFG["approve_comment"] in approvals, "the comment is not shown as text: " + approvals)
    check(not release.find_element(By.CSS_SELECTOR, ".decision").is_displayed(),
          "a signed release offers approve and deny")
    files = release.find_element(By.CSS_SELECTOR, ".files tbody").text
    check(files.count("signed") == CFG["release_files"], "not every file is signed: " + files)
    no_injection(driver)

    driver.find_element(By.ID, "logout").click()
    wait(driver, lambda d: shown(d, "login-panel") and not shown(d, "requests-panel"), "logout")
    # The next person starts with the default filters.
    check(driver.find_element(By.ID, "state-filter").get_attribute("value") == "pending"
          and not driver.find_element(By.ID, "policy-filter").get_attribute("value"),
          "filters survive the logout")


def administrator_part(driver):
    locked = CFG["locked_identity"]
    admin1, admin2 = CFG["admin1"], CFG["admin2"]
    login(driver, admin1["name"], admin1["password"])
    # One administrator alone: the console says the session is incomplete and keeps the
    # login panel open; no administration is offered.
    wait(driver, lambda d: shown(d, "session-incomplete"), "the incomplete-session notice")
    notice = driver.find_element(By.ID, "session-incomplete").text
    check("administrator needs 1 more" in notice, "notice: " + notice)
    check(shown(driver, "login-panel") and not shown(driver, "admin-panel"),
          "an incomplete session offers administration")
    login(driver, admin2["name"], admin2["password"])
    wait(driver, lambda d: shown(d, "admin-panel") and not shown(d, "login-panel")
         and not shown(d, "session-incomplete"), "the complete session")

    row = f"#identities tr[data-id='{locked}']"

    def status():
        return driver.execute_script(
            "const r = document.querySelector(arguments[0]);"
            " return r ? r.children[3].textContent : ''", row)

    def click(label):
        driver.find_element(By.CSS_SELECTOR, row).find_element(
            By.XPATH, f".//button[text()='{label}']").click()

    wait(driver, lambda d: "locked" in status(), locked + " shown locked")
    click("Unlock")
    wait(driver, lambda d: f"Identity {locked} is unlocked." == message(d), "the unlock")
    wait(driver, lambda d: status() == "enabled", locked + " shown unlocked")
    # The console's audit view shows the unlock, by the session's principal.
    wait(driver, lambda d: driver.execute_script(
        "return [...document.querySelectorAll('#audit tr')].some(r =>"
        " [...r.children].slice(2).map(c => c.textContent).join(' ') ==="
        " arguments[0] + ' identity.unlock ' + arguments[1] + ' success')",
        admin1["name"], locked), "the unlock in the audit view")
    click("Disable")
    wait(driver, lambda d: f"Identity {locked} is disabled." == message(d), "the disable")
    wait(driver, lambda d: status() == "disabled", locked + " shown disabled")
    step("administered")

    # "Add a login" brings the folded panel back, "Close" folds it again.
    driver.find_element(By.ID, "add-login").click()
    check(shown(driver, "login-panel"), "Add a login does not open the panel")
    driver.find_element(By.ID, "login-fold").click()
    check(not shown(driver, "login-panel"), "Close does not fold the panel")


def main():
    fail_logins(CFG["locked_identity"], CFG["lockout_threshold"])
    driver = browser()
    try:
        driver.get(BASE + "/")
        wait(driver, lambda d: d.title == "Sigil console", "the page")
        approver_part(driver)
        administrator_part(driver)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        check(not errors, f"browser log errors: {errors}")
    finally:
        driver.quit()
    step("ok")


main()
