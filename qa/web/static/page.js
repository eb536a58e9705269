() => {
  // A card's "Show in article" (its chunk) and an "also reported by" entry (an article and a
  // sentence) hand what they open to a hidden textbox, which the app's events read.
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('button.qa-open, button.qa-open-article');
    if (!button) return;
    const holder = button.classList.contains('qa-open-article') ? '#qa-open-article' : '#qa-open-chunk';
    const box = document.querySelector(`${holder} textarea, ${holder} input`);
    if (!box) return;
    box.value = button.value + '|' + Date.now();
    box.dispatchEvent(new Event('input', { bubbles: true }));
  });
}
