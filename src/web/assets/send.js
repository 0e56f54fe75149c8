// The send page with a script: files can be dropped on the file area as well as chosen, and
// each file goes as its own request, with its own progress bar, result and error. Without the
// script the same form posts every file at once and the next page lists the results.

const form = document.getElementById("send-form");
const input = document.getElementById("files");
const zone = document.getElementById("drop-zone");
const list = document.getElementById("file-list");
const summary = document.getElementById("send-errors");

if (form && input && zone && list && summary && window.FormData && window.XMLHttpRequest) {
  let chosen = [];

  const addFiles = (files) => {
    for (const file of files) chosen.push(file);
    render();
  };

  const render = () => {
    list.replaceChildren();
    chosen.forEach((file, i) => {
      const item = document.createElement("li");
      item.className = "app-file-list__item";
      item.id = `upload-${i}`;
      const name = document.createElement("span");
      name.className = "app-file-list__name";
      name.textContent = file.name;
      const label = `progress-${i}`;
      name.id = `${label}-label`;
      const bar = document.createElement("progress");
      bar.className = "app-file-list__progress";
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-labelledby", name.id);
      const result = document.createElement("span");
      result.className = "app-file-list__result";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "govuk-button govuk-button--secondary app-file-list__remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.addEventListener("click", () => {
        chosen.splice(i, 1);
        render();
      });
      item.append(name, bar, result, remove);
      list.append(item);
    });
  };

  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("app-drop-zone--over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("app-drop-zone--over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("app-drop-zone--over");
    if (e.dataTransfer && e.dataTransfer.files) addFiles(e.dataTransfer.files);
  });

  // The form's own fields, token first, then one file.
  const bodyFor = (file) => {
    const body = new FormData();
    for (const el of form.elements) {
      if (!el.name || el.type === "file" || el.type === "submit") continue;
      body.append(el.name, el.value);
    }
    body.append("files", file, file.name);
    return body;
  };

  const sendOne = (file, i) =>
    new Promise((resolve) => {
      const item = document.getElementById(`upload-${i}`);
      const bar = item.querySelector("progress");
      const result = item.querySelector(".app-file-list__result");
      item.querySelector(".app-file-list__remove").remove();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
      };
      const finish = (ok, text, href) => {
        result.replaceChildren();
        if (ok) {
          bar.value = 100;
          const tag = document.createElement("strong");
          tag.className = "govuk-tag govuk-tag--green";
          tag.textContent = "Sent";
          result.append(tag);
          if (href) {
            const link = document.createElement("a");
            link.className = "govuk-link app-file-list__view";
            link.href = href;
            link.textContent = "View";
            result.append(" ", link);
          }
        } else {
          item.classList.add("app-file-list__item--error");
          const error = document.createElement("p");
          error.className = "govuk-error-message";
          error.textContent = text;
          result.append(error);
        }
        resolve({ ok, name: file.name, text, id: item.id });
      };
      xhr.onload = () => {
        let answer = null;
        try {
          answer = JSON.parse(xhr.responseText).results[0];
        } catch {
          answer = null;
        }
        if (answer && answer.stored) finish(true, "", answer.href);
        else finish(false, (answer && answer.error) || "The file was not sent. Try again.", null);
      };
      xhr.onerror = () => finish(false, "The connection failed before the file was sent. Try again.", null);
      xhr.send(bodyFor(file));
    });

  const showSummary = (failed) => {
    summary.replaceChildren();
    if (failed.length === 0) return;
    const box = document.createElement("div");
    box.className = "govuk-error-summary";
    box.tabIndex = -1;
    const alert = document.createElement("div");
    alert.setAttribute("role", "alert");
    const title = document.createElement("h2");
    title.className = "govuk-error-summary__title";
    title.textContent = failed.length === 1 ? "1 file was not sent" : `${failed.length} files were not sent`;
    const body = document.createElement("div");
    body.className = "govuk-error-summary__body";
    const ul = document.createElement("ul");
    ul.className = "govuk-list govuk-error-summary__list";
    for (const f of failed) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `#${f.id}`;
      a.textContent = `${f.name}: ${f.text}`;
      li.append(a);
      ul.append(li);
    }
    body.append(ul);
    alert.append(title, body);
    box.append(alert);
    summary.append(box);
    box.focus();
  };

  form.addEventListener("submit", async (e) => {
    // With no file chosen here (a message alone), the form goes as it would without the script.
    if (chosen.length === 0) return;
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const outcomes = [];
    for (let i = 0; i < chosen.length; i++) outcomes.push(await sendOne(chosen[i], i));
    chosen = [];
    button.disabled = false;
    showSummary(outcomes.filter((o) => !o.ok));
  });
}
