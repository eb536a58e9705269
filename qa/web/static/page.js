() => {
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('button.qa-open');
    if (!button) return;
    const box = document.querySelector('#qa-open-chunk textarea, #qa-open-chunk input');
    if (!box) return;
    box.value = button.value + '|' + Date.now();
    box.dispatchEvent(new Event('input', { bubbles: true }));
  });
}
