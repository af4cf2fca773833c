/* Offload admin: live regions, confirmations, copy buttons. No dependencies, no build step.
   Every feature is an enhancement: without this script the pages and forms still work. */
(() => {
  "use strict";

  const POLL_MS = 2000;
  const busy = new WeakSet();
  // Milliseconds to add to this browser's clock to get the instance's (from each answer's Date).
  let serverOffsetMs = 0;
  // The element a pointer is pressed on: a region is not swapped under a click in progress.
  let pressed = null;

  // "just now", "42 s ago", "2 min ago": the same buckets as offload.http.ui.humanize.ago.
  function ago(iso) {
    const seconds = Math.floor((Date.now() + serverOffsetMs - Date.parse(iso)) / 1000);
    if (seconds < 5) return "just now";
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  function refreshAges(root) {
    root.querySelectorAll("time[data-ago]").forEach((time) => {
      const text = ago(time.dateTime);
      if (time.textContent !== text) time.textContent = text;
    });
  }

  // Relative times change every second; they are kept moving here, so a region whose only
  // change is its "s ago" texts is not swapped (a swap would eat a click on its buttons).
  const AGE_TEXT = /(<time\b[^>]*\bdata-ago\b[^>]*>)[^<]*(<\/time>)/g;
  const withoutAges = (html) => html.replace(AGE_TEXT, "$1$2");

  // Swap a [data-poll] region's HTML when its fragment changed. Comparing serialised HTML keeps
  // unchanged regions (and the focus inside them) untouched.
  async function refresh(region) {
    if (busy.has(region)) return;
    busy.add(region);
    try {
      const response = await fetch(region.dataset.poll, {
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.status === 401) {
        window.location.reload(); // the session ended: the reload lands on the login form
        return;
      }
      if (!response.ok) return;
      const serverDate = Date.parse(response.headers.get("Date") || "");
      if (!Number.isNaN(serverDate)) serverOffsetMs = serverDate - Date.now();
      const incoming = document.createElement("template");
      incoming.innerHTML = await response.text();
      if (withoutAges(incoming.innerHTML) === withoutAges(region.innerHTML)) return;
      if (pressed && region.contains(pressed)) return; // next tick, once the click is done
      const focusedId = region.contains(document.activeElement) ? document.activeElement.id : "";
      refreshAges(incoming.content);
      region.replaceChildren(incoming.content);
      if (focusedId) document.getElementById(focusedId)?.focus();
    } catch (error) {
      // The instance restarts or the network blinks: the next tick tries again.
    } finally {
      busy.delete(region);
    }
  }

  document.addEventListener("pointerdown", (event) => { pressed = event.target; }, true);
  for (const type of ["pointerup", "pointercancel"]) {
    document.addEventListener(type, () => { pressed = null; }, true);
  }

  setInterval(() => {
    if (document.hidden) return;
    refreshAges(document);
    document.querySelectorAll("[data-poll]").forEach(refresh);
  }, POLL_MS);

  // Destructive forms say what they will do and wait for a yes.
  document.addEventListener("submit", (event) => {
    const message = event.submitter?.dataset.confirm || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Filters apply as soon as a choice changes.
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-autosubmit]")) event.target.form.requestSubmit();
  });

  // Copy buttons: the Clipboard API where allowed, a hidden textarea otherwise.
  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } finally {
      area.remove();
    }
    return copied;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.textContent.trim();
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (error) {
      copied = fallbackCopy(text);
    }
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = copied ? "Copied" : "Select and copy by hand";
    setTimeout(() => { button.textContent = label; }, 2000);
  });

  // Uploads report their progress; the answer says where the new video lives.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("[data-upload]") || event.defaultPrevented) return;
    event.preventDefault();
    const box = form.querySelector("[data-upload-progress]");
    const bar = box.querySelector("progress");
    const percent = form.querySelector("[data-upload-percent]");
    const problem = form.querySelector("[data-upload-error]");
    const button = form.querySelector("button[type=submit]");
    const fail = (message) => {
      problem.textContent = message;
      problem.hidden = false;
      button.disabled = false;
    };
    box.hidden = false;
    problem.hidden = true;
    button.disabled = true;
    const request = new XMLHttpRequest();
    request.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      const value = Math.round((100 * progress.loaded) / progress.total);
      bar.value = value;
      percent.textContent = value + "%";
    });
    request.addEventListener("load", () => {
      let body = {};
      try {
        body = JSON.parse(request.responseText);
      } catch (error) {
        body = {};
      }
      if (request.status === 200 && body.url) {
        percent.textContent = "Uploaded: opening the video…";
        window.location.assign(body.url);
      } else if (request.status === 401) {
        window.location.reload();
      } else {
        fail(body.error || body.detail || "The upload failed (HTTP " + request.status + ").");
      }
    });
    request.addEventListener("error", () => fail("The upload failed: the instance could not be reached."));
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "fetch");
    request.setRequestHeader("X-CSRF-Token", form.elements.csrf.value);
    request.send(new FormData(form));
  });

  // Play buttons switch the page's player to another source.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-play]");
    const player = document.getElementById("player");
    if (!button || !player) return;
    player.src = button.dataset.play;
    player.load();
    player.play().catch(() => { /* autoplay refused: the controls are there */ });
    const label = document.getElementById("now-playing");
    if (label) label.textContent = "Playing: " + button.dataset.label;
  });

  // The register commands follow the runner name typed above them.
  function shellQuote(value) {
    return /^[A-Za-z0-9._@%+=:,\/-]+$/.test(value) ? value : "'" + value.replace(/'/g, "'\\''") + "'";
  }

  document.addEventListener("input", (event) => {
    if (!event.target.matches("[data-runner-name]")) return;
    const name = shellQuote(event.target.value.trim() || "my-runner");
    document.querySelectorAll("[data-command] [data-name]").forEach((el) => { el.textContent = name; });
  });
})();
