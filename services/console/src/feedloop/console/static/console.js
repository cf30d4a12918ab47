// Progressive enhancement only: every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  // Choosing a value in the overview's "equal to" list picks its dimension too.
  const value = document.querySelector('select[name="value"]');
  const dimension = document.querySelector('select[name="dimension"]');
  if (value && dimension) {
    value.addEventListener("change", () => {
      const group = value.selectedOptions[0]?.parentElement;
      if (group && group.tagName === "OPTGROUP") dimension.value = group.label;
    });
  }
});
