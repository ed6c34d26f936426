"""A form with client-side validation and a delayed confirmation."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select


def test_sign_up_greets_user(driver, base_url, wait):
    driver.get(base_url + "form.html")
    driver.find_element(By.ID, "name").send_keys("Ada")
    Select(driver.find_element(By.ID, "plan")).select_by_value("pro")
    driver.find_element(By.ID, "terms").click()
    driver.find_element(By.ID, "submit").click()
    greeting = wait.until(ec.visibility_of_element_located((By.ID, "greeting")))
    assert greeting.text == "Welcome, Ada! Plan: pro"


def test_sign_up_requires_name(driver, base_url, wait):
    driver.get(base_url + "form.html")
    driver.find_element(By.ID, "submit").click()
    error = wait.until(ec.visibility_of_element_located((By.ID, "error")))
    assert error.text == "Please enter your name."


def test_sign_up_requires_terms(driver, base_url, wait):
    driver.get(base_url + "form.html")
    driver.find_element(By.ID, "name").send_keys("Grace")
    driver.find_element(By.ID, "submit").click()
    error = wait.until(ec.visibility_of_element_located((By.ID, "error")))
    assert error.text == "Please accept the terms."
