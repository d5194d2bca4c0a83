'use strict';
// The sign-in page: show why the last attempt failed.
(() => {
  const reasons = {
    credentials: 'Sign-in failed: unknown access key or wrong secret.',
    region: 'Sign-in failed: the region must look like us-east-1.',
    form: 'Sign-in failed: the form could not be read.',
  };
  const failed = new URLSearchParams(location.search).get('failed');
  if (failed) {
    const p = document.getElementById('login-error');
    p.textContent = reasons[failed] || 'Sign-in failed.';
    p.hidden = false;
  }
})();
