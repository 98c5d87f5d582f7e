// The redirect URI MSAL comes back to (the Entra registration's SPA redirect URI): the bridge hands the
// answer to the console page, whose handleRedirectPromise() then has the account. A separate file,
// not an inline script: the Static Web App's Content-Security-Policy allows scripts from 'self' only.
window.msalRedirectBridge.broadcastResponseToMainFrame().catch((e) => {
  document.body.textContent = `Sign-in failed: ${e.message}`;
});
