() => { setTimeout(() => {
  const scrollable = (node) => {
    while (node && node !== document.body) {
      if (node.scrollHeight > node.clientHeight + 1 && getComputedStyle(node).overflowY !== 'visible') return node;
      node = node.parentElement;
    }
    return null;
  };
  const replies = document.querySelectorAll('#qa-chat .qa-reply, #qa-chat .qa-empty');
  const reply = replies[replies.length - 1];
  const row = reply && reply.closest('.message-row');
  const start = (row && row.previousElementSibling) || reply;  // the question asked, when found
  const chat = reply && scrollable(reply.parentElement);
  if (chat) chat.scrollTop += start.getBoundingClientRect().top - chat.getBoundingClientRect().top - 8;
  const mark = document.getElementById('qa-scroll-target');
  const box = mark && mark.closest('.qa-article-text');
  if (box) box.scrollTop = mark.offsetTop - box.offsetTop - box.clientHeight / 3;
}, 150); }
