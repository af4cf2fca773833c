/* Offload admin: live regions, confirmations, copy buttons. No dependencies, no build step.
   Every feature is an enhancement: without this script the pages and forms still work. */
(() => {
  "use strict";

  const POLL_MS = 2000;
  const busy = new WeakSet();

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
      const incoming = document.createElement("template");
      incoming.innerHTML = await response.text();
      if (incoming.innerHTML === region.innerHTML) return;
      const focusedId = region.contains(document.activeElement) ? document.activeElement.id : "";
      region.replaceChildren(incoming.content);
      if (focusedId) document.getElementById(focusedId)?.focus();
    } catch (error) {
      // The instance restarts or the network blinks: the next tick tries again.
    } finally {
      busy.delete(region);
    }
  }

  setInterval(() => {
    if (document.hidden) return;
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
