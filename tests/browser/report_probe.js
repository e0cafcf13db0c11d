// Loaded by the probe page (see headless_chromium.py): opens the report in an iframe, measures it as a
// reader would see it, and writes the measurements as JSON into #psc-probe-result, which
// `chromium --dump-dom` then prints. Everything runs synchronously in the iframe's load handler, so the
// result is in the DOM before the page's own load event (the moment --dump-dom waits for).
"use strict";

function probeVisible(win, el) {
  // Rendered with a size, and neither it nor an ancestor hidden (display, visibility, opacity, <details>).
  if (!el) return false;
  const rect = el.getBoundingClientRect();
  if (rect.width <= 0 || rect.height <= 0) return false;
  if (el.checkVisibility && !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) {
    return false;
  }
  for (let node = el; node; node = node.parentElement) {
    const style = win.getComputedStyle(node);
    if (style.display === "none" || style.visibility !== "visible" || parseFloat(style.opacity) === 0) {
      return false;
    }
  }
  return true;
}

function probeWidth(frame, width) {
  // The report at `width` CSS pixels: does anything force a horizontal scroll?
  frame.style.width = width + "px";
  const doc = frame.contentDocument;
  const scroller = doc.scrollingElement;
  const matrix = doc.getElementById("matrix");
  const clientWidth = scroller.clientWidth;
  const tablesRight = matrix ? Array.from(matrix.querySelectorAll("table"), (t) => t.getBoundingClientRect().right) : [];
  return {
    width: width,
    scroll_width: scroller.scrollWidth,
    client_width: clientWidth,
    matrix_right: matrix ? matrix.getBoundingClientRect().right : null,
    matrix_tables_right: tablesRight.length ? Math.max(...tablesRight) : null,
    matrix_visible: probeVisible(frame.contentWindow, matrix),
  };
}

function probeRequirement(win, doc, anchor) {
  const section = doc.getElementById(anchor);
  const evidence = section ? Array.from(section.querySelectorAll(".evidence")) : [];
  const reruns = section ? Array.from(section.querySelectorAll("code.rerun")) : [];
  return {
    present: section !== null,
    is_requirement: section !== null && section.classList.contains("requirement"),
    visible: probeVisible(win, section),
    evidence: evidence.length,
    evidence_visible: evidence.filter((el) => probeVisible(win, el)).length,
    reruns_visible: reruns.filter((el) => probeVisible(win, el)).map((el) => el.textContent),
    linked_from_matrix: doc.querySelector('#matrix a[href="#' + anchor + '"]') !== null,
    linked_from_root_causes: doc.querySelector('#root-causes a[href="#' + anchor + '"]') !== null,
  };
}

function probeInjection(doc) {
  // What a hostile string would have to create to run: elements that load or execute, event-handler
  // attributes, links to javascript: URLs.
  const counts = {};
  for (const tag of ["script", "img", "iframe", "object", "embed", "svg", "math", "form", "base", "link", "meta"]) {
    counts[tag] = doc.getElementsByTagName(tag).length;
  }
  const handlers = [];
  for (const el of doc.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith("on")) handlers.push(el.tagName.toLowerCase() + "[" + attr.name + "]");
    }
  }
  const scriptLinks = Array.from(doc.querySelectorAll("[href], [src], [action], [formaction]"))
    .flatMap((el) => ["href", "src", "action", "formaction"].map((name) => el.getAttribute(name)))
    .filter((value) => value !== null && /^\s*(javascript|data|vbscript):/i.test(value));
  return { elements: counts, event_handlers: handlers, script_urls: scriptLinks };
}

function probeReport(frame, config) {
  const win = frame.contentWindow;
  const doc = frame.contentDocument;
  if (!doc || !doc.body) return { error: "the report's document is not readable from the probe page" };
  const verdict = doc.getElementById("global-verdict");
  const csp = doc.querySelector('meta[http-equiv="Content-Security-Policy" i]');
  frame.style.width = config.widths[0] + "px";
  const result = {
    title: doc.title,
    csp: csp ? csp.getAttribute("content") : null,
    global_verdict: {
      present: verdict !== null,
      text: verdict ? verdict.textContent.trim() : null,
      visible: probeVisible(win, verdict),
      top: verdict ? verdict.getBoundingClientRect().top : null,
    },
    requirements: {},
    reruns_visible: Array.from(doc.querySelectorAll("code.rerun")).filter((el) => probeVisible(win, el)).length,
    injection: probeInjection(doc),
    found: {},
    widths: [],
  };
  for (const anchor of config.requirements) result.requirements[anchor] = probeRequirement(win, doc, anchor);
  const text = doc.body.textContent;
  for (const needle of config.needles) result.found[needle] = text.includes(needle);
  for (const width of config.widths) result.widths.push(probeWidth(frame, width));
  return result;
}

function startProbe(config) {
  const out = document.getElementById("psc-probe-result");
  const frame = document.createElement("iframe");
  frame.style.cssText = "border:0;display:block;width:" + config.widths[0] + "px;height:" + config.height + "px";
  frame.addEventListener("load", () => {
    let result;
    try {
      result = probeReport(frame, config);
    } catch (error) {
      result = { error: String(error) };
    }
    out.textContent = JSON.stringify(result);
  });
  frame.src = config.report;
  document.body.appendChild(frame);
}
