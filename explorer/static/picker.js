// A row of digit buttons (render.digit_picker): a click or Enter on one sends Gradio's `select` event with its
// index, as gr.Gallery's would, and marks it pressed. The images are data: URLs, so no server path reaches the page.
export const mount = ({element, props, watch, trigger}) => {
  element.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-index]");
    if (!button || !element.contains(button)) return;
    for (const b of element.querySelectorAll("button[data-index]")) b.setAttribute("aria-pressed", String(b === button));
    const index = Number(button.dataset.index);
    trigger("select", { index, value: index, selected: true });
  });
};
