"""Straightforward reference implementations, written the way disentanglement_lib writes them.

Arrays are (num_codes, num_points) as in disentanglement_lib; one sklearn call per pair, per
factor or per sample, nothing cached, every batch of the sampling scores is encoded afresh.
Used by ``bench_metrics.py`` only, to time and check ``causalvae.metrics`` against.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
import sklearn.metrics
from sklearn import ensemble, linear_model, preprocessing, svm


def histogram_discretize(target, num_bins=20):
    discretized = np.zeros_like(target)
    for i in range(target.shape[0]):
        discretized[i, :] = np.digitize(target[i, :], np.histogram(target[i, :], num_bins)[1][:-1])
    return discretized


def discrete_mutual_info(mus, ys):
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = sklearn.metrics.mutual_info_score(ys[j, :], mus[i, :])
    return m


def discrete_entropy(ys):
    return np.array([sklearn.metrics.mutual_info_score(ys[j, :], ys[j, :]) for j in range(ys.shape[0])])


def mig(mus, ys):
    m = discrete_mutual_info(histogram_discretize(mus), ys)
    sorted_m = np.sort(m, axis=0)[::-1]
    return np.mean(np.divide(sorted_m[0, :] - sorted_m[1, :], discrete_entropy(ys)))


def sap(mus, ys, mus_test, ys_test):
    score = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(mus[i, :][:, np.newaxis], ys[j, :])
            score[i, j] = np.mean(classifier.predict(mus_test[i, :][:, np.newaxis]) == ys_test[j, :])
    sorted_matrix = np.sort(score, axis=0)
    return np.mean(sorted_matrix[-1, :] - sorted_matrix[-2, :])


def _standardise(train, test):
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (train - mean) / std, (test - mean) / std


def importance(x_train, y_train, x_test, y_test, backend, seed=0):
    """One model per factor, sequentially (disentanglement_lib ``compute_importance_gbt``)."""
    matrix = np.zeros([x_train.shape[0], y_train.shape[0]])
    train_loss, test_loss = [], []
    for i in range(y_train.shape[0]):
        xtr, xte = x_train.T, x_test.T
        if backend == "gbt":
            model = ensemble.GradientBoostingClassifier(random_state=seed)
        elif backend == "random-forest":
            model = ensemble.RandomForestClassifier(n_estimators=100, max_depth=8, random_state=seed)
        elif backend == "logistic":
            xtr, xte = _standardise(xtr, xte)
            model = linear_model.LogisticRegression(max_iter=1000, random_state=seed)
        else:
            xtr, xte = _standardise(xtr, xte)
            model = linear_model.Lasso(alpha=0.02)
            t = (y_train[i, :] - y_train[i, :].mean()) / y_train[i, :].std()
            t_test = (y_test[i, :] - y_train[i, :].mean()) / y_train[i, :].std()
            model.fit(xtr, t)
            matrix[:, i] = np.abs(model.coef_)
            train_loss.append(model.score(xtr, t))
            test_loss.append(model.score(xte, t_test))
            continue
        model.fit(xtr, y_train[i, :])
        coef = model.feature_importances_ if backend in ("gbt", "random-forest") else np.abs(model.coef_).sum(0)
        matrix[:, i] = np.abs(coef)
        train_loss.append(np.mean(model.predict(xtr) == y_train[i, :]))
        test_loss.append(np.mean(model.predict(xte) == y_test[i, :]))
    return matrix, np.mean(train_loss), np.mean(test_loss)


def dci(mus_train, ys_train, mus_test, ys_test, backend="gbt", seed=0):
    imp, train, test = importance(mus_train, ys_train, mus_test, ys_test, backend, seed)
    per_code = 1.0 - scipy.stats.entropy(imp.T + 1e-11, base=imp.shape[1])
    code_importance = imp.sum(axis=1) / imp.sum()
    per_factor = 1.0 - scipy.stats.entropy(imp + 1e-11, base=imp.shape[0])
    factor_importance = imp.sum(axis=0) / imp.sum()
    return {"disentanglement": np.sum(per_code * code_importance),
            "completeness": np.sum(per_factor * factor_importance),
            "informativeness_train": train, "informativeness_test": test, "importance": imp}


def modularity_explicitness(mus_train, ys_train, mus_test, ys_test):
    mi = discrete_mutual_info(histogram_discretize(mus_train), ys_train)
    squared_mi = np.square(mi)
    max_squared_mi = np.max(squared_mi, axis=1)
    numerator = np.sum(squared_mi, axis=1) - max_squared_mi
    denominator = max_squared_mi * (squared_mi.shape[1] - 1.0)
    modularity = 1.0 - numerator / denominator
    modularity[max_squared_mi == 0.0] = 0.0
    mean, std = np.mean(mus_train, axis=1), np.std(mus_train, axis=1)
    x_train = ((mus_train - mean[:, None]) / std[:, None]).T
    x_test = ((mus_test - mean[:, None]) / std[:, None]).T
    train, test = [], []
    for i in range(ys_train.shape[0]):
        clf = linear_model.LogisticRegression().fit(x_train, ys_train[i, :])
        mlb = preprocessing.MultiLabelBinarizer()
        train.append(sklearn.metrics.roc_auc_score(mlb.fit_transform(np.expand_dims(ys_train[i, :], 1)),
                                                   clf.predict_proba(x_train)))
        test.append(sklearn.metrics.roc_auc_score(mlb.fit_transform(np.expand_dims(ys_test[i, :], 1)),
                                                  clf.predict_proba(x_test)))
    return {"modularity": np.mean(modularity), "explicitness_train": np.mean(train),
            "explicitness_test": np.mean(test)}


def irs(mus, ys, diff_quantile=0.99):
    ys_discrete = histogram_discretize(ys)
    latents = mus[mus.var(axis=1) > 0.0, :].T
    gen_factors = ys_discrete.T
    max_deviations = np.max(np.abs(latents - latents.mean(axis=0)), axis=0)
    cum_deviations = np.zeros([latents.shape[1], gen_factors.shape[1]])
    for i in range(gen_factors.shape[1]):
        unique_factors = np.unique(gen_factors[:, i], axis=0)
        for k in range(unique_factors.shape[0]):
            match = gen_factors[:, i] == unique_factors[k]
            e_loc = np.mean(latents[match, :], axis=0)
            diffs = np.abs(latents[match, :] - e_loc)
            cum_deviations[:, i] += np.percentile(diffs, q=diff_quantile * 100, axis=0)
        cum_deviations[:, i] /= unique_factors.shape[0]
    irs_matrix = 1.0 - cum_deviations / max_deviations[:, np.newaxis]
    return np.average(irs_matrix.max(axis=1), weights=max_deviations)


def gaussian_total_correlation(mus):
    cov = np.cov(mus)
    return 0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1])


class PoolData:
    """disentanglement_lib's ground-truth-data interface over a pool with known factors."""

    def __init__(self, factors, observations):
        self.factors, self.observations = factors, observations
        self.num_factors = factors.shape[1]
        self.groups = [{v: np.flatnonzero(column == v) for v in np.unique(column)} for column in factors.T]

    def sample_indices(self, n, random_state):
        return random_state.randint(len(self.factors), size=n)

    def same_value(self, index, factor_index, random_state, size=None):
        match = self.groups[factor_index][self.factors[index, factor_index]]
        return match[random_state.randint(len(match), size=size)]

    def same_value_each(self, indices, factor_index, random_state):
        """For every index, one pool item sharing its value of the factor (vectorised per value)."""
        out = np.empty(len(indices), dtype=np.int64)
        values = self.factors[indices, factor_index]
        for v in np.unique(values):
            rows = np.flatnonzero(values == v)
            match = self.groups[factor_index][v]
            out[rows] = match[random_state.randint(len(match), size=len(rows))]
        return out


def factor_vae(data, represent, random_state, batch_size=64, num_train=10000, num_eval=5000,
               num_variance_estimate=10000, threshold=0.05):
    obs = data.observations[data.sample_indices(num_variance_estimate, random_state)]
    global_variances = np.var(represent(obs), axis=0, ddof=1)
    active_dims = np.sqrt(global_variances) >= threshold

    def batch(num_points):
        votes = np.zeros((data.num_factors, global_variances.shape[0]), dtype=np.int64)
        for _ in range(num_points):
            factor_index = random_state.randint(data.num_factors)
            anchor = data.sample_indices(1, random_state)[0]
            members = data.same_value(anchor, factor_index, random_state, size=batch_size)
            local_variances = np.var(represent(data.observations[members]), axis=0, ddof=1)
            argmin = np.argmin(local_variances[active_dims] / global_variances[active_dims])
            votes[factor_index, argmin] += 1
        return votes

    training_votes = batch(num_train)
    classifier = np.argmax(training_votes, axis=0)
    other_index = np.arange(training_votes.shape[1])
    eval_votes = batch(num_eval)
    return {"train_accuracy": np.sum(training_votes[classifier, other_index]) / np.sum(training_votes),
            "eval_accuracy": np.sum(eval_votes[classifier, other_index]) / np.sum(eval_votes)}


def beta_vae(data, represent, random_state, batch_size=64, num_train=10000, num_eval=5000):
    def batch(num_points):
        points, labels = np.zeros((num_points, 0)), np.zeros(num_points, dtype=np.int64)
        for i in range(num_points):
            index = random_state.randint(data.num_factors)
            first = data.sample_indices(batch_size, random_state)
            second = data.same_value_each(first, index, random_state)
            feature = np.mean(np.abs(represent(data.observations[first]) - represent(data.observations[second])),
                              axis=0)
            if points.shape[1] == 0:
                points = np.zeros((num_points, feature.shape[0]))
            points[i, :], labels[i] = feature, index
        return points, labels

    train_points, train_labels = batch(num_train)
    model = linear_model.LogisticRegression(random_state=0).fit(train_points, train_labels)
    eval_points, eval_labels = batch(num_eval)
    return {"train_accuracy": model.score(train_points, train_labels),
            "eval_accuracy": model.score(eval_points, eval_labels)}
