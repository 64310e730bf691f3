// The layout checks of e2e/a11y_test.go, run in the page as it is shown.
// The test evaluates this function expression with its options and reads
// the JSON-able report it returns:
//
//   width        the viewport width the browser emulates, in CSS pixels
//   errorFields  ids of the fields the page's form error must be tied to
//
// It changes nothing on the page except focus: the focused element is
// blurred first, so borders are measured as a person sees them before
// touching the form.
(opts) => {
  const width = opts.width;

  // describe names an element the way a person fixing the page finds it.
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList && el.classList.length) s += "." + Array.from(el.classList).join(".");
    if (el.getAttribute("name")) s += `[name="${el.getAttribute("name")}"]`;
    if (el.getAttribute("type")) s += `[type="${el.getAttribute("type")}"]`;
    return s;
  };
  const snippet = (el) => {
    const h = el.outerHTML.replace(/\s+/g, " ");
    return h.length > 160 ? h.slice(0, 157) + "..." : h;
  };
  const hidden = (el) => {
    if (!el.isConnected) return "not in the document";
    if (el.closest("[hidden]")) return "inside [hidden]";
    if (el.getClientRects().length === 0) return "not rendered (display: none)";
    const cs = getComputedStyle(el);
    if (cs.visibility !== "visible") return "visibility: " + cs.visibility;
    if (parseFloat(cs.opacity) === 0) return "opacity: 0";
    return "";
  };
  const visibleText = (el) => (el && !hidden(el) ? (el.innerText || el.textContent || "").trim() : "");

  // Colours: any CSS colour, read back as sRGB bytes by painting one
  // canvas pixel (getComputedStyle may answer in any colour syntax).
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const paint = canvas.getContext("2d", { willReadFrequently: true });
  const rgba = (css) => {
    paint.clearRect(0, 0, 1, 1);
    paint.fillStyle = "rgba(0, 0, 0, 0)";
    paint.fillStyle = css;
    paint.fillRect(0, 0, 1, 1);
    const d = paint.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
  };
  const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const luminance = (c) => {
    const lin = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  };
  // WCAG 2.1 contrast ratio.
  const contrast = (a, b) => {
    const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
  };
  // behind is the colour painted behind el: the background colours of
  // its ancestors composited from the canvas (white) down. Background
  // images are not taken into account.
  const behind = (el) => {
    const chain = [];
    for (let e = el.parentElement; e; e = e.parentElement) chain.unshift(e);
    let c = [255, 255, 255, 1];
    for (const e of chain) c = over(rgba(getComputedStyle(e).backgroundColor), c);
    return c;
  };

  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();

  const report = {
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    viewportMeta: (document.querySelector('meta[name="viewport"]') || { content: "" }).content || "",
    overflowing: [],
    unreachable: [],
    borders: [],
    errorTies: [],
  };

  // Elements sticking out to the right of the viewport, innermost first:
  // those with no child that sticks out too. What a scrolling or clipping
  // box holds cannot widen the page (the box itself may), unless it is
  // positioned past it: an absolutely positioned element is clipped only
  // by its containing block and the blocks that contain that.
  const limit = Math.min(width, window.innerWidth);
  const sticksOut = (el) => el.getBoundingClientRect().right > limit + 0.5;
  const clipped = (el) => {
    let pos = getComputedStyle(el).position;
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      if (pos === "fixed") return false;
      const cs = getComputedStyle(e);
      if (pos === "absolute" && cs.position === "static" && cs.transform === "none") continue;
      if (cs.overflowX !== "visible") return true;
      pos = cs.position;
    }
    return false;
  };
  for (const el of document.body ? document.body.querySelectorAll("*") : []) {
    if (report.overflowing.length >= 8) break;
    if (hidden(el) || !sticksOut(el) || clipped(el)) continue;
    if (Array.from(el.children).some((c) => !hidden(c) && sticksOut(c))) continue;
    report.overflowing.push({ element: describe(el), html: snippet(el), right: Math.round(el.getBoundingClientRect().right) });
  }

  // Every control must be reachable: rendered, not zero-sized, inside the
  // viewport horizontally and not covered by another element.
  const controls = document.querySelectorAll('input:not([type="hidden"]), button, select, textarea, a[href], [role="button"], [role="link"]');
  for (const el of controls) {
    const why = [];
    const h = hidden(el);
    if (h) {
      why.push(h);
    } else {
      const r = el.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) why.push(`zero-sized (${r.width}x${r.height})`);
      if (r.left < -0.5 || r.right > limit + 0.5) {
        let scroller = "";
        for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
          const ox = getComputedStyle(e).overflowX;
          if (ox === "auto" || ox === "scroll") {
            scroller = " (inside the sideways-scrolling " + describe(e) + ")";
            break;
          }
        }
        why.push(`outside the viewport horizontally: x ${Math.round(r.left)} to ${Math.round(r.right)}, viewport 0 to ${limit}${scroller}`);
      }
      const cx = r.left + r.width / 2;
      const cy = r.top + r.height / 2;
      if (why.length === 0 && cx >= 0 && cx < window.innerWidth && cy >= 0 && cy < window.innerHeight) {
        const top = document.elementFromPoint(cx, cy);
        const label = top && top.closest("label");
        const ownLabel = label && (label.control === el || (el.labels && Array.from(el.labels).includes(label)));
        if (top && top !== el && !el.contains(top) && !ownLabel) why.push("covered by " + describe(top));
      }
    }
    if (why.length) report.unreachable.push({ element: describe(el), html: snippet(el), why: why.join("; ") });
  }

  // WCAG 1.4.11: what shows where a text field is, its border (or its own
  // fill), needs 3:1 against the colour behind it.
  const fields = document.querySelectorAll(
    'input:not([type]), input[type="text"], input[type="password"], input[type="email"], input[type="search"], input[type="tel"], input[type="url"], input[type="number"], textarea, select'
  );
  for (const el of fields) {
    if (hidden(el)) continue;
    const cs = getComputedStyle(el);
    const back = behind(el);
    const fill = over(rgba(cs.backgroundColor), back);
    let best = { side: "", ratio: 0, color: "" };
    for (const side of ["top", "right", "bottom", "left"]) {
      const w = parseFloat(cs.getPropertyValue(`border-${side}-width`));
      const style = cs.getPropertyValue(`border-${side}-style`);
      if (!(w > 0) || style === "none" || style === "hidden") continue;
      const c = over(rgba(cs.getPropertyValue(`border-${side}-color`)), fill);
      const ratio = contrast(c, back);
      if (ratio > best.ratio) best = { side, ratio, color: hex(c), width: w };
    }
    const fillRatio = contrast(fill, back);
    report.borders.push({
      element: describe(el),
      border: best.side ? `${best.width}px ${best.color} (${best.side})` : "none",
      borderRatio: Math.round(best.ratio * 100) / 100,
      fill: hex(fill),
      fillRatio: Math.round(fillRatio * 100) / 100,
      background: hex(back),
      ok: best.ratio >= 3 || fillRatio >= 3,
    });
  }

  // A form error must be tied to its fields: aria-invalid="true" and
  // aria-describedby naming visible error text.
  const tie = (el) => {
    const why = [];
    if (el.getAttribute("aria-invalid") !== "true") why.push(`aria-invalid is ${JSON.stringify(el.getAttribute("aria-invalid"))}, want "true"`);
    const ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (ids.length === 0) {
      why.push("no aria-describedby");
    } else {
      const texts = ids.map((id) => visibleText(document.getElementById(id)));
      if (!texts.some(Boolean)) why.push(`aria-describedby="${ids.join(" ")}" names no visible text`);
    }
    return why.join("; ");
  };
  for (const id of opts.errorFields || []) {
    const el = document.getElementById(id);
    if (!el) {
      report.errorTies.push({ element: "#" + id, why: "no such field on the page" });
      continue;
    }
    const why = tie(el);
    if (why) report.errorTies.push({ element: describe(el), html: snippet(el), why });
  }
  // Wherever a field says it is invalid, the page must say why.
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) {
    if ((opts.errorFields || []).includes(el.id)) continue;
    const why = tie(el);
    if (why) report.errorTies.push({ element: describe(el), html: snippet(el), why });
  }
  return report;
}
