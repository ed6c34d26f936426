"""Each test first looks for what any earlier test left behind, then leaves all of it behind
itself: cookie, localStorage, sessionStorage, IndexedDB, an entry in the HTTP cache, an extra
window and an open alert. Under `farm test --isolation context` the cells of a worker share one
browser session, so every test after a worker's first proves that the previous cell's state is
gone."""

import pytest

READ = """
const done = arguments[arguments.length - 1];
const seen = [];
if (document.cookie) seen.push('cookie ' + document.cookie);
if (localStorage.length) seen.push('localStorage');
if (sessionStorage.length) seen.push('sessionStorage');
fetch('index.html?left', {cache: 'only-if-cached', mode: 'same-origin'})  // fails unless cached
  .then(() => seen.push('HTTP cache'), () => null)
  .then(() => indexedDB.databases())
  .then(dbs => { if (dbs.length) seen.push('IndexedDB'); done(seen); });
"""
WRITE = """
const done = arguments[arguments.length - 1];
document.cookie = 'cart=3; path=/; max-age=3600';
localStorage.setItem('user', 'ada');
sessionStorage.setItem('step', 'payment');
const request = indexedDB.open('orders', 1);
request.onupgradeneeded = () => request.result.createObjectStore('o');
request.onsuccess = () => {
  request.result.close();
  fetch('index.html?left', {cache: 'force-cache'}).then(r => r.text())
    .then(() => fetch('index.html?left', {cache: 'only-if-cached', mode: 'same-origin'}))
    .then(() => done('ok'), error => done('not cached: ' + error));
};
"""


@pytest.mark.parametrize("n", range(4))
def test_starts_clean_and_leaves_a_mess(driver, base_url, n):
    driver.set_script_timeout(10)
    assert len(driver.window_handles) == 1, "a window of an earlier cell is still open"
    driver.get(base_url + "index.html")
    assert driver.execute_async_script(READ) == []
    assert driver.execute_async_script(WRITE) == "ok"
    driver.execute_script("window.open('about:blank'); setTimeout(() => alert('left open'), 0)")
