"""The shopper page's few lines of browser script, kept apart from the layout in :mod:`demo.ui`.

Each is a JavaScript function Gradio runs in the page: on load, on a click in an HTML block, or as
an event's ``js`` (its return value, where it has one, becomes the event's outputs).
"""

# One delegated listener per HTML block: clicks on its cards, chips and buttons become events.
CLICKS = """
element.addEventListener('click', (event) => {
  const target = event.target.closest('[data-product],[data-chip],[data-relax],[data-suggest]');
  if (!target) return;
  const data = target.dataset;
  if (data.product !== undefined) trigger('click', {product: data.product});
  else if (data.chip !== undefined) trigger('click', {chip: data.chip});
  else if (data.suggest !== undefined) trigger('click', {suggest: data.suggest});
  else trigger('click', {relax: Number(data.relax)});
});
"""
# The photo and voice panels show what a search will use: closing one takes its upload out of the query
# (a photo nobody can see must not steer the results), and a photo set for the shopper (the tour) opens it.
TOGGLE = """
(value) => {
  const panel = document.querySelector('#{panel}');
  const closing = !panel.classList.contains('sl-hidden');
  panel.classList.toggle('sl-hidden', closing);
  return closing ? null : value;
}
"""
REVEAL = "(value) => { if (value) document.querySelector('#{panel}').classList.remove('sl-hidden'); }"
# On a phone the filters start folded away; the "Filters" button in the result bar opens them. Back and
# Forward between searches reload the address they return to (see SET_URL); a change of #hash alone does not.
ON_LOAD = """
() => {
  const fold = (tries) => {
    const sidebar = document.querySelector('#filters');
    if (!sidebar) { if (tries > 0) setTimeout(() => fold(tries - 1), 100); return; }
    if (window.matchMedia('(max-width: 768px)').matches && sidebar.classList.contains('open')) {
      sidebar.querySelector('.toggle-button').click();
    }
  };
  fold(100);
  window.slSearch = location.search;
  window.addEventListener('popstate', () => { if (location.search !== window.slSearch) location.reload(); });
}
"""
OPEN_FILTERS = "() => { document.querySelector('#filters .toggle-button').click(); }"
# Each search the shopper runs is a step of the browser's history, so Back returns to the one before.
# The address reproduces a search (demo/urls.py), so going back or forward loads that address afresh
# (a photo or a recording cannot travel in an address: such a step comes back as its words).
SET_URL = """
(state) => {
  const wanted = new URLSearchParams(state || '').toString();
  if (wanted === new URLSearchParams(location.search).toString()) return;
  history.pushState(null, '', wanted ? '?' + wanted : location.pathname);
  window.slSearch = location.search;
}
"""
# A pairing code in the address is a key to another device's profile for ten minutes: once the page
# has offered it (demo.ui's arrive), it leaves the address bar and the history.
FORGET_PAIRING_CODE = """
() => {
  const address = new URL(location.href);
  if (!address.searchParams.has('pair')) return;
  address.searchParams.delete('pair');
  history.replaceState(null, '', address.pathname + address.search + address.hash);
  window.slSearch = location.search;
}
"""
