/*
 * Keep every sidebar toggle working when a page carries more than one of a kind.
 *
 * pydata-sphinx-theme and sphinx-book-theme attach their sidebar handlers with
 * document.querySelector(".primary-toggle") / (".secondary-toggle"), i.e. to the first button
 * of each kind only. The book renders one of each (book/_ext/book_theme.py drops the theme's
 * extra navbar), but a navbar item added later would bring a hidden duplicate back first in the
 * page and leave the visible button dead (pydata-sphinx-theme#2451). So a click on any later
 * duplicate is handed to the first button, which carries the themes' handlers: a modal sidebar
 * on narrow screens, collapsing the sidebar on wide ones.
 */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const selector of [".primary-toggle", ".secondary-toggle"]) {
    const [first, ...others] = document.querySelectorAll(selector);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopImmediatePropagation();
        first.click();
      });
    }
  }
});
