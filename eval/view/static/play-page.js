// Runs inside an environment's page on the play screen: a click on an element with data-click="L" sends
// the step click[L]; a search form (role="search") sends search[<its text>]. Each goes to the play session
// as the person's action, and the play screen reloads with the outcome.
(function () {
  var act = document.currentScript.getAttribute("data-act");
  function send(action) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = act;
    form.target = "_top";
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "action";
    input.value = action;
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  }
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-click]");
    if (el) {
      event.preventDefault();
      send("click[" + el.getAttribute("data-click") + "]");
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("role") !== "search") return;
    event.preventDefault();
    var box = form.querySelector("input[type=search], input[type=text], input:not([type])");
    send("search[" + (box ? box.value : "") + "]");
  });
})();
