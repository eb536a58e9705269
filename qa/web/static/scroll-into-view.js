() => { setTimeout(() => {
  const mark = document.getElementById('qa-scroll-target');
  if (mark) mark.scrollIntoView({ block: 'center' });
}, 60); }
