/* The report's "All users" table: search, sort and pages over rows embedded in the page.
 *
 * The rows travel once, as gzip-compressed JSON in base64, in a script element of type
 * application/gzip beside the table (see user_failure_stats.users_table.users_table_html). The browser's own
 * DecompressionStream unpacks them: nothing is loaded from anywhere. Every value is written
 * with textContent, never as markup. The container's data-state goes from "static" (the
 * preview rows only) to "ready", or to "error" with a message that points to the CSV.
 */
(function () {
  "use strict";

  var PAGE_SIZES = [25, 50, 100, 500];
  // Printed, the table holds the rows in the order shown, up to this many (see printNote).
  var PRINT_ROWS = 500;
  var COLUMNS = [
    // key, heading, kind: "text" sorts A to Z first, the others largest first.
    ["position", "#", "number"],
    ["user", "User", "text"],
    ["sessions", "Sessions", "number"],
    ["failed", "Failed", "number"],
    ["succeeded", "Succeeded", "number"],
    ["rate", "Failure rate", "number"],
    ["ci", "95% CI", "number"],
    ["marks", "Marks", "text"],
    ["id", "User id", "id"]
  ];
  var numberFormat = new Intl.NumberFormat("en-US");
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function unpack(text) {
    var binary = atob(text.trim());
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  // Exact order of integer ids given as text, however many digits (JSON numbers would round).
  function compareIntegerTexts(a, b) {
    var negativeA = a.charAt(0) === "-";
    var negativeB = b.charAt(0) === "-";
    if (negativeA !== negativeB) {
      return negativeA ? -1 : 1;
    }
    var sign = negativeA ? -1 : 1;
    if (a.length !== b.length) {
      return sign * (a.length - b.length);
    }
    return sign * (a < b ? -1 : a > b ? 1 : 0);
  }

  function Table(root, data) {
    this.root = root;
    this.data = data;
    this.count = data.user.length;
    this.all = new Array(this.count);
    for (var i = 0; i < this.count; i += 1) {
      this.all[i] = i;
    }
    this.shown = this.all;
    this.sortKey = "position";
    this.descending = false;
    this.page = 0;
    this.pageSize = PAGE_SIZES[1];
    this.query = "";
    this.printing = false;
    this.lowerNames = null;
    var ids = data.id;
    this.integerIds = ids.every(function (id) {
      return id === null || /^-?[0-9]+$/.test(id);
    });
    this.build();
    this.render();
  }

  Table.prototype.value = function (key, i) {
    var d = this.data;
    switch (key) {
      case "position":
        return i + 1;
      case "succeeded":
        return d.sessions[i] - d.failed[i];
      case "rate":
        return d.failed[i] / d.sessions[i];
      case "ci":
        return parseFloat(d.ci[i]);
      case "marks":
        return d.mark_texts[d.marks[i]];
      default:
        return d[key][i];
    }
  };

  Table.prototype.text = function (key, i) {
    var d = this.data;
    switch (key) {
      case "position":
      case "sessions":
      case "failed":
      case "succeeded":
        return numberFormat.format(this.value(key, i));
      case "rate":
        return d.rate[i];
      case "marks":
        return this.value(key, i);
      case "id":
        return d.id[i] === null ? "" : d.id[i];
      default:
        return d[key][i];
    }
  };

  Table.prototype.build = function () {
    var self = this;
    var controls = element("div", { class: "ufs-users-controls" });
    var label = element("label", {}, "Search name or id ");
    this.search = element("input", {
      type: "search",
      class: "ufs-users-search",
      "aria-label": "Search users by name or id",
      placeholder: "name or id",
      autocomplete: "off"
    });
    label.appendChild(this.search);
    var sizeLabel = element("label", {}, " Rows per page ");
    this.size = element("select", { class: "ufs-users-size" });
    PAGE_SIZES.forEach(function (n) {
      var option = element("option", { value: String(n) }, String(n));
      if (n === self.pageSize) {
        option.selected = true;
      }
      self.size.appendChild(option);
    });
    sizeLabel.appendChild(this.size);
    controls.appendChild(label);
    controls.appendChild(sizeLabel);

    var box = element("div", { class: "ufs-users-box ufs-table-box" });
    var table = element("table", { class: "ufs-users-table" });
    var head = element("thead");
    var headRow = element("tr");
    this.headers = {};
    COLUMNS.forEach(function (column) {
      var th = element("th", { scope: "col", "aria-sort": "none" });
      var button = element("button", { type: "button", "data-key": column[0] }, column[1]);
      // The button fills its cell (see users_table.TABLE_STYLE); a click on the cell's edge
      // sorts too. Enter and Space sort by keyboard, as a button's do.
      th.addEventListener("click", function () {
        self.sortBy(column[0], column[2]);
      });
      th.appendChild(button);
      headRow.appendChild(th);
      self.headers[column[0]] = th;
    });
    head.appendChild(headRow);
    table.appendChild(head);
    this.body = element("tbody");
    table.appendChild(this.body);
    box.appendChild(table);

    var pager = element("div", { class: "ufs-users-pager" });
    this.buttons = {};
    [
      ["first", "\u00ab First"],
      ["previous", "\u2039 Previous"],
      ["next", "Next \u203a"],
      ["last", "Last \u00bb"]
    ].forEach(function (pair, k) {
      var button = element("button", { type: "button", "data-page": pair[0] }, pair[1]);
      button.addEventListener("click", function () {
        self.go(pair[0]);
      });
      self.buttons[pair[0]] = button;
      if (k === 2) {
        self.status = element("span", { class: "ufs-users-status", "aria-live": "polite" });
        pager.appendChild(self.status);
      }
      pager.appendChild(button);
    });

    var timer = null;
    this.search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        self.filter(self.search.value);
      }, self.count > 50000 ? 250 : 60);
    });
    this.size.addEventListener("change", function () {
      self.pageSize = parseInt(self.size.value, 10);
      self.page = 0;
      self.render();
    });

    var preview = this.root.querySelector(".ufs-users-preview");
    if (preview) {
      preview.parentNode.removeChild(preview);
    }
    this.printNote = element("p", { class: "ufs-users-print-note" });
    this.root.appendChild(this.printNote);
    this.root.appendChild(controls);
    this.root.appendChild(box);
    this.root.appendChild(pager);
  };

  Table.prototype.filter = function (query) {
    var q = query.trim().toLowerCase();
    this.query = q;
    if (q === "") {
      this.shown = this.all;
    } else {
      var names = this.lowerNames || (this.lowerNames = this.data.user.map(function (n) {
        return n.toLowerCase();
      }));
      var ids = this.data.id;
      this.shown = this.all.filter(function (i) {
        return names[i].indexOf(q) !== -1 || (ids[i] !== null && ids[i].toLowerCase().indexOf(q) !== -1);
      });
    }
    this.sortShown();
    this.page = 0;
    this.render();
  };

  Table.prototype.sortBy = function (key, kind) {
    if (this.sortKey === key) {
      this.descending = !this.descending;
    } else {
      this.sortKey = key;
      this.descending = kind !== "text" && kind !== "id" && key !== "position";
    }
    this.sortShown();
    this.page = 0;
    this.render();
  };

  Table.prototype.sortShown = function () {
    var self = this;
    var key = this.sortKey;
    var sign = this.descending ? -1 : 1;
    var order = this.shown === this.all ? this.all.slice() : this.shown;
    if (key === "position") {
      order.sort(function (a, b) {
        return sign * (a - b);
      });
    } else if (key === "user") {
      var names = this.data.user;
      order.sort(function (a, b) {
        return sign * collator.compare(names[a], names[b]) || a - b;
      });
    } else if (key === "id") {
      var ids = this.data.id;
      var compare = this.integerIds ? compareIntegerTexts : collator.compare;
      order.sort(function (a, b) {
        // Users without an id come last, whichever the direction.
        if (ids[a] === null || ids[b] === null) {
          return (ids[a] === null) - (ids[b] === null) || a - b;
        }
        return sign * compare(ids[a], ids[b]) || a - b;
      });
    } else {
      var values = new Float64Array(this.count);
      order.forEach(function (i) {
        values[i] = self.value(key, i);
      });
      // Ties keep the report's order (worst first), whichever the direction.
      order.sort(function (a, b) {
        return sign * (values[a] - values[b]) || a - b;
      });
    }
    if (key === "position" && !this.descending && this.query === "") {
      this.shown = this.all;
    } else {
      this.shown = order;
    }
  };

  Table.prototype.setPrinting = function (printing) {
    if (printing !== this.printing) {
      this.printing = printing;
      this.render();
    }
  };

  // What a printed table holds: every row shown, or the first PRINT_ROWS, and where the rest are.
  Table.prototype.printedText = function (printed) {
    var total = this.shown.length;
    var csv = this.root.getAttribute("data-csv");
    var users = numberFormat.format(this.count) + (this.count === 1 ? " user" : " users");
    var order = this.sortKey === "position" && !this.descending ? ", worst first" : "";
    var text;
    if (this.query !== "") {
      var first = printed < total ? "the first " + numberFormat.format(printed) + " of " : "";
      text = "Showing " + first + numberFormat.format(total) + " matching \u201c" +
        this.search.value.trim() + "\u201d of " + users;
    } else if (printed < total) {
      text = "Showing the first " + numberFormat.format(printed) + " of " + users + order;
    } else {
      text = "All " + users + order;
    }
    if (printed < this.count) {
      text += csv ? "; all users are in the CSV file " + csv + "." : "; the rest are not printed.";
    } else {
      text += ".";
    }
    return text;
  };

  Table.prototype.go = function (where) {
    var last = this.pages() - 1;
    this.page = { first: 0, previous: this.page - 1, next: this.page + 1, last: last }[where];
    this.page = Math.max(0, Math.min(this.page, last));
    this.render();
  };

  Table.prototype.pages = function () {
    return Math.max(1, Math.ceil(this.shown.length / this.pageSize));
  };

  Table.prototype.render = function () {
    var self = this;
    var begin = this.printing ? 0 : this.page * this.pageSize;
    var rows = this.shown.slice(begin, begin + (this.printing ? PRINT_ROWS : this.pageSize));
    this.printNote.textContent = this.printedText(rows.length);
    var fragment = document.createDocumentFragment();
    rows.forEach(function (i) {
      var tr = element("tr");
      if (self.data.flagged[i]) {
        tr.className = "ufs-flagged";
      }
      COLUMNS.forEach(function (column) {
        tr.appendChild(element("td", {}, self.text(column[0], i)));
      });
      fragment.appendChild(tr);
    });
    this.body.textContent = "";
    this.body.appendChild(fragment);
    Object.keys(this.headers).forEach(function (key) {
      var state = key !== self.sortKey ? "none" : self.descending ? "descending" : "ascending";
      self.headers[key].setAttribute("aria-sort", state);
    });
    var total = this.shown.length;
    var query = "\u201c" + this.search.value.trim() + "\u201d";
    var text;
    if (total === 0) {
      text = "No user matches " + query + " (" + numberFormat.format(this.count) + " in all)";
    } else {
      text = "Users " + numberFormat.format(begin + 1) + "\u2013" +
        numberFormat.format(begin + rows.length) + " of " + numberFormat.format(total);
      if (this.query !== "") {
        text += " matching " + query + " (" + numberFormat.format(this.count) + " in all)";
      }
      text += ", page " + numberFormat.format(this.page + 1) + " of " +
        numberFormat.format(this.pages());
    }
    this.status.textContent = text;
    this.buttons.first.disabled = this.buttons.previous.disabled = this.page === 0;
    this.buttons.next.disabled = this.buttons.last.disabled = this.page >= this.pages() - 1;
  };

  function start(root) {
    root.setAttribute("data-state", "loading");
    var source = root.querySelector("script.ufs-users-data");
    var fail = function (reason) {
      root.setAttribute("data-state", "error");
      var note = root.querySelector(".ufs-users-note") || root;
      note.appendChild(
        element("strong", {}, " This browser could not open the full table (" + reason +
          "); every user is in the CSV file.")
      );
    };
    if (!source || typeof DecompressionStream === "undefined") {
      fail(source ? "it cannot unpack gzip" : "no rows found");
      return;
    }
    unpack(source.textContent).then(function (data) {
      var table = new Table(root, data);
      var print = window.matchMedia("print");
      print.addEventListener("change", function (event) {
        table.setPrinting(event.matches);
      });
      window.addEventListener("beforeprint", function () {
        table.setPrinting(true);
      });
      window.addEventListener("afterprint", function () {
        table.setPrinting(print.matches);
      });
      table.setPrinting(print.matches);
      var note = root.querySelector(".ufs-users-note");
      if (note && root.getAttribute("data-ready-note")) {
        note.textContent = root.getAttribute("data-ready-note");
      }
      root.setAttribute("data-state", "ready");
    }).catch(function (error) {
      fail(String(error && error.message || error));
    });
  }

  var roots = document.querySelectorAll("[data-ufs-table][data-state='static']");
  for (var k = 0; k < roots.length; k += 1) {
    start(roots[k]);
  }
})();
