// Model page: descriptions, stage transitions and aliases, each after a confirmation.
"use strict";

(() => {
  const { data } = LT;
  const name = data.name;
  const on = (node, fn) => { if (node) node.addEventListener("click", () => LT.attempt(fn)); };

  on(document.getElementById("model-description-save"), async () => {
    if (!confirm(`Save the description of model "${name}"?`)) return;
    await LT.post("/api/lite/model/description", { name, description: document.getElementById("model-description").value });
    LT.flash("Description saved.", "ok");
  });

  document.querySelectorAll("#model-versions tbody tr").forEach((row) => {
    const version = Number(row.dataset.version);
    on(row.querySelector(".stage-apply"), async () => {
      const stage = row.querySelector(".stage-select").value;
      const archive = row.querySelector(".stage-archive").checked;
      if (!confirm(`Move version ${version} of "${name}" to ${stage}${archive ? " and archive the others there" : ""}?`)) return;
      await LT.post("/api/lite/model/stage", { name, version, stage, archive_existing_versions: archive });
      location.reload();
    });
    on(row.querySelector(".version-description-save"), async () => {
      if (!confirm(`Save the description of version ${version}?`)) return;
      await LT.post("/api/lite/model/description", { name, version, description: row.querySelector(".version-description").value });
      LT.flash(`Description of version ${version} saved.`, "ok");
    });
  });

  const form = document.getElementById("alias-form");
  if (form) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      LT.attempt(async () => {
        const alias = document.getElementById("alias-name").value.trim();
        const version = Number(document.getElementById("alias-version").value);
        if (!alias || !confirm(`Point alias @${alias} of "${name}" at version ${version}?`)) return;
        await LT.post("/api/lite/model/alias", { name, alias, version });
        location.reload();
      });
    });
  }
  document.querySelectorAll("#model-aliases tr[data-alias]").forEach((row) => {
    on(row.querySelector(".alias-delete"), async () => {
      const alias = row.dataset.alias;
      if (!confirm(`Delete alias @${alias} of "${name}"?`)) return;
      await LT.post("/api/lite/model/alias/delete", { name, alias });
      location.reload();
    });
  });
})();
