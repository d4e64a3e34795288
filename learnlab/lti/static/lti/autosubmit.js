// Deep Linking: post the tool's signed answer back to the platform at once.
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
  form.submit();
});
