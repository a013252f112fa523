// An image whose click sends Gradio's `select` event with the pixel under the pointer, in the image's own pixels
// (render.click_image), as gr.Image's select would; the image is a data: URL, so no server path reaches the page.
export const mount = ({element, props, watch, trigger}) => {
  element.addEventListener("click", (event) => {
    const img = event.target.closest("img");
    if (!img || !element.contains(img) || !img.clientWidth) return;
    const box = img.getBoundingClientRect();
    const x = Math.floor((event.clientX - box.left) / box.width * img.naturalWidth);
    const y = Math.floor((event.clientY - box.top) / box.height * img.naturalHeight);
    trigger("select", { index: [x, y], value: null, selected: true });
  });
};
