// Experiments page: select experiments to open their runs together; create, rename, delete, restore.
"use strict";

(() => {
  const boxes = () => [...document.querySelectorAll(".exp-select:checked")].map((b) => b.value);
  const openBtn = document.getElementById("exp-compare");
  document.querySelectorAll(".exp-select").forEach((b) => b.addEventListener("change", () => {
    openBtn.disabled = boxes().length === 0;
  }));
  openBtn.addEventListener("click", () => {
    location.href = "/runs?" + LT.query({ experiment_ids: boxes().join(",") });
  });

  const create = document.getElementById("exp-create");
  if (create) {
    create.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = document.getElementById("exp-new-name").value.trim();
      if (!name) return;
      LT.attempt(async () => {
        await LT.post("/api/lite/experiments/create", { name });
        location.reload();
      });
    });
  }

  document.querySelectorAll("#experiments tbody tr").forEach((row) => {
    const id = row.dataset.experimentId, name = row.dataset.name;
    const on = (cls, fn) => { const b = row.querySelector(cls); if (b) b.addEventListener("click", () => LT.attempt(fn)); };
    on(".exp-rename", async () => {
      const newName = prompt(`New name for experiment "${name}"`, name);
      if (newName === null || newName.trim() === "" || newName === name) return;
      await LT.post(`/api/lite/experiments/${encodeURIComponent(id)}/rename`, { name: newName.trim() });
      location.reload();
    });
    on(".exp-delete", async () => {
      if (!confirm(`Delete experiment "${name}"? Its runs stay and it can be restored.`)) return;
      await LT.post(`/api/lite/experiments/${encodeURIComponent(id)}/delete`);
      location.reload();
    });
    on(".exp-restore", async () => {
      await LT.post(`/api/lite/experiments/${encodeURIComponent(id)}/restore`);
      location.reload();
    });
  });
})();
