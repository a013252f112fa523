// Select the brush of a Sketchpad when its tab opens, if no tool is selected yet: Gradio's Sketchpad opens
// with none ("select the draw tool to start"), and a first stroke drew nothing. Called with the element id.
(id) => {
  const pick = n => {
    const el = document.getElementById(id);
    const brush = el && el.querySelector('button[aria-label=Brush]');
    if (!brush) { if (n > 0) setTimeout(() => pick(n - 1), 100); return; }
    if (el.innerText.includes('select the draw tool')) brush.click();
  };
  pick(30);
  return [];
}
